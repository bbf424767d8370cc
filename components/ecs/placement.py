"""Placement: a LowLatency deployment set, so cluster nodes land close to each other (eRDMA)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_alicloud as alicloud


@dataclass
class PlacementArgs:
    prefix: str


class Placement(pulumi.ComponentResource):
    deployment_set_id: pulumi.Output[str]

    def __init__(self, name: str, args: PlacementArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("llm:compute:Placement", name, None, opts)
        dset = alicloud.ecs.EcsDeploymentSet(
            f"{name}-set",
            deployment_set_name=f"{args.prefix}-nodes",
            strategy="LowLatency",
            description=f"{args.prefix}: GPU nodes close together for eRDMA",
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.deployment_set_id = dset.id
        self.register_outputs({"deploymentSetId": self.deployment_set_id})
