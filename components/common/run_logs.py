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
    """The `stackctl logs` command line for one invocation.

    `invocation` is an invoke ID (`t-...`: `--invoke-id`) or a phase name of the stack's
    `invocationIds` output (`--phase`). `instance_ids_output_name` names the stack output that
    lists the instances to expect results from (`--instances-output`; None: every instance the
    invocation ran on).
    """
    parts = [STACKCTL, "--stack", stack]
    if invocation.startswith("t-"):
        parts += ["--invoke-id", invocation]
    else:
        parts += ["--phase", invocation]
    if instance_ids_output_name:
        parts += ["--instances-output", instance_ids_output_name]
    return " ".join([STACKCTL, *(shlex.quote(p) for p in parts[1:])])


def announce(invocation_resource: pulumi.CustomResource, stack: str, phase: str) -> pulumi.Output[str]:
    """Log (once the invocation's ID is known) the command that shows its output; the command."""

    def say(invoke_id: str) -> str:
        cmd = logs_command(stack, None, invoke_id)
        pulumi.log.info(
            f"{phase}: Cloud Assistant invocation {invoke_id}; run `{cmd}` to see its output",
            resource=invocation_resource,
        )
        return cmd

    return invocation_resource.id.apply(say)
