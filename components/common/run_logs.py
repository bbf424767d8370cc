"""Where to read a Cloud Assistant run's output: the `stackctl logs` line for an invocation.

`ecs.EcsInvocation` keeps only a status in Pulumi (the provider's error on failure names the
invoke ID and the last status, never the script's output), so every phase tells the operator
the exact command that shows the output on every instance it ran on:

    python -m stackctl logs --stack dev --invoke-id t-hz0jdfwd9f8
    python -m stackctl logs --stack dev --phase serving          # from the invocationIds output

The ID is known only once the invocation has been created and has succeeded (a resource's
outputs resolve when its create returns), so `announce` speaks on success; on failure the ID is
in the provider's error text ("Resource id：t-..."), which `--invoke-id` takes as it is.
"""

from __future__ import annotations

import shlex

import pulumi

STACKCTL = "python -m stackctl logs"
# The stack output mapping phase name -> invocation ID (e.g. {"modelSync": ..., "serving": ...}).
INVOCATION_IDS_OUTPUT = "invocationIds"


def logs_command(stack: str, instance_ids_output_name: str | None, invocation: str) -> str:
    """The `stackctl logs` command line for one invocation, by its invoke ID (`--invoke-id`).

    `instance_ids_output_name` names the stack output listing the instances that must have a
    result (`--instances-output`; None: every instance the invocation ran on is shown, none is
    required). The stack gives the region (its `region` output or config).
    """
    return _join(["--stack", stack, "--invoke-id", invocation], instance_ids_output_name)


def phase_command(stack: str, instance_ids_output_name: str | None, phase: str) -> str:
    """The same, by phase name in the stack's `invocationIds` output (`--phase`)."""
    return _join(["--stack", stack, "--phase", phase], instance_ids_output_name)


def _join(args: list[str], instance_ids_output_name: str | None) -> str:
    if instance_ids_output_name:
        args = [*args, "--instances-output", instance_ids_output_name]
    return " ".join([STACKCTL, *(shlex.quote(a) for a in args)])


def announce(invocation_resource: pulumi.Resource, stack: str, phase: str) -> pulumi.Output[str]:
    """Log (once the invocation's ID is known) the command that shows its output; the command."""
    if not isinstance(invocation_resource, pulumi.CustomResource):
        raise TypeError(f"announce: {phase}: expected the invocation (a custom resource), got {invocation_resource!r}")

    def say(invoke_id: str) -> str:
        cmd = logs_command(stack, None, invoke_id)
        pulumi.log.info(
            f"{phase}: Cloud Assistant invocation {invoke_id}; run `{cmd}` to see its output",
            resource=invocation_resource,
        )
        return cmd

    return invocation_resource.id.apply(say)
