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


def secret_parameter_read_policy(region: str, account_id: str, parameter_name: str) -> dict:
    """What the Cloud Assistant agent needs to resolve `{{oos-secret:NAME}}` on a host: it calls
    OOS GetSecretParameter (WithDecryption) with the instance's own RAM role (aliyun_assist_client
    agent/util/paramstore.go). GetSecretParameter is resource-level in OOS's API reference; the
    KMS resource scope for kms:GetSecretValue is unverified, so it is the region and account."""
    return {
        "Version": "1",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["oos:GetSecretParameter"],
                "Resource": [f"acs:oos:{region}:{account_id}:secretparameter/{parameter_name}"],
            },
            {"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": [f"acs:kms:{region}:{account_id}:*"]},
        ],
    }
