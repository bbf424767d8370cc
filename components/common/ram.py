"""RAM documents every shape uses: the ECS trust policy and read-only access to a model prefix."""

from __future__ import annotations

ECS_TRUST = {
    "Statement": [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["ecs.aliyuncs.com"]}}],
    "Version": "1",
}


def oss_read_policy(bucket: str, prefix: str, kms: bool = False) -> dict:
    """GetObject on the prefix; ListObjects on the bucket only under that prefix (FACTS.md)."""
    statements: list[dict] = [
        {"Effect": "Allow", "Action": ["oss:GetObject"], "Resource": [f"acs:oss:*:*:{bucket}/{prefix}*"]},
        {
            "Effect": "Allow",
            "Action": ["oss:ListObjects"],
            "Resource": [f"acs:oss:*:*:{bucket}"],
            "Condition": {"StringLike": {"oss:Prefix": [f"{prefix}*"]}},
        },
    ]
    if kms:
        statements.append({"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": ["*"]})
    return {"Version": "1", "Statement": statements}
