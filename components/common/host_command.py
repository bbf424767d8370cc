"""One Cloud Assistant command and its invocation: the unit of every host phase and the jump host.

Every input of `ecs.Command` and `ecs.EcsInvocation` forces replacement, so a change to the
rendered content re-runs it, and nothing else does. The provider waits for success; its default
create timeout is one minute, so the invocation's `custom_timeouts` follow the command's own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_alicloud as alicloud

from components.common import scripts


def timeout_minutes(timeout_s: int) -> str:
    """Pulumi create timeout: the command's bound plus 10 minutes for queueing and polling."""
    return f"{-(-timeout_s // 60) + 10}m"


def run_on_hosts(
    name: str,
    parent: pulumi.Resource,
    physical_name: str,
    description: str,
    content: pulumi.Input[str],
    timeout_s: int,
    instance_ids: Sequence[pulumi.Input[str]],
    enable_parameter: bool = False,
    depends_on: Sequence[pulumi.Resource] | None = None,
    parameters: pulumi.Input[Mapping[str, str]] | None = None,
) -> alicloud.ecs.EcsInvocation:
    command = alicloud.ecs.Command(
        f"{name}-command",
        name=physical_name,
        description=description,
        command_content=pulumi.Output.from_input(content).apply(scripts.encode_command),
        type="RunShellScript",
        timeout=timeout_s,
        enable_parameter=enable_parameter,
        working_dir="/root",
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return alicloud.ecs.EcsInvocation(
        f"{name}-invocation",
        command_id=command.id,
        instance_ids=list(instance_ids),
        repeat_mode="Once",
        # Custom parameters (`{{name}}` in the content, enable_parameter): Pulumi diffs them key
        # by key, so a settings change reads as the setting, not as a new Base64 content.
        parameters=parameters,
        opts=pulumi.ResourceOptions(
            parent=parent,
            depends_on=list(depends_on or []),
            custom_timeouts=pulumi.CustomTimeouts(create=timeout_minutes(timeout_s)),
        ),
    )
