"""The policy pack: `pulumi preview --policy-pack policy` (pulumi-policy, requirements-dev.txt).

Each rule of policy/rules.py becomes one stack validation policy over every resource's inputs,
with its default enforcement level; relax one in a policy config file, e.g.
`{"disks-encrypted": {"enforcementLevel": "advisory"}}` for a stack created before release 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

# Pulumi runs the pack from policy/: the rules module is imported as the tests import it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import (  # noqa: E402
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.rules import POLICIES, Policy, Resource, defaults  # noqa: E402

LEVELS = {"mandatory": EnforcementLevel.MANDATORY, "advisory": EnforcementLevel.ADVISORY}


def _validator(policy: Policy) -> Any:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [Resource(r.resource_type, r.name, r.props) for r in args.resources]
        config = defaults(policy) | dict(args.get_config() or {})
        for message in policy.check(resources, config):
            report_violation(message, None)

    return validate


PolicyPack(
    name="llm-inference",
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=[
        StackValidationPolicy(
            name=p.name,
            description=p.description,
            enforcement_level=LEVELS[p.enforcement],
            validate=_validator(p),
            config_schema=PolicyConfigSchema(properties=dict(p.config)) if p.config else None,
        )
        for p in POLICIES
    ],
)
