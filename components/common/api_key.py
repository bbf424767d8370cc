"""ApiKey: the bearer key clients send, kept as a Pulumi secret and an OOS secret parameter.

Delivery to hosts (one path, DESIGN section 2): the serving command's content carries only the
reference `{{oos-secret:<name>}}`, which Cloud Assistant resolves at run time (the deployer
needs `oos:GetSecretParameter` and `kms:GetSecretValue`). The key never appears in user-data,
command text, plan files or non-secret outputs. `version` is non-secret and goes into the
command so that a rotation re-runs it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud
import pulumi_random as random


@dataclass
class ApiKeyArgs:
    prefix: str
    version: int
    value: pulumi.Output[str] | None = None  # user-given (secret); generated when None
    tags: dict[str, str] | None = None


class ApiKey(pulumi.ComponentResource):
    value: pulumi.Output[str]
    parameter_name: pulumi.Output[str]

    def __init__(self, name: str, args: ApiKeyArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:access:ApiKey", name, None, opts)
        if args.value is None:
            # [A-Za-z0-9_-] only: it passes through Cloud Assistant parameters and shell quoting.
            generated = random.RandomPassword(
                f"{name}-generated",
                length=48,
                special=True,
                override_special="_-",
                keepers={"version": str(args.version)},
                opts=pulumi.ResourceOptions(parent=self),
            )
            value = generated.result
        else:
            value = args.value
        self.value = pulumi.Output.secret(value)
        param = alicloud.oos.SecretParameter(
            f"{name}-param",
            secret_parameter_name=f"{args.prefix}-api-key",
            type="Secret",
            value=self.value,
            description=f"{args.prefix}: vLLM API key (managed by Pulumi)",
            tags=args.tags,
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        self.parameter_name = param.secret_parameter_name
        self.version = args.version
        self.register_outputs({"parameterName": self.parameter_name, "version": args.version})
