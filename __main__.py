"""A private LLM inference service on Alibaba Cloud: vLLM behind an OpenAI-compatible API.

Deploys, by `llm:mode`:
- ecs-single: a VPC with NAT egress and a security group, a RAM role reading the model prefix on
  OSS, an API key in an OOS secret parameter, one GPU ECS instance with a model disk, the model
  download and the vLLM service as Cloud Assistant runs, and optionally an EIP;
- ecs-cluster: the same with N eRDMA nodes in a LowLatency deployment set and a Ray cluster,
  vLLM serving from the master with pipeline parallelism across nodes;
- acs: an ACS cluster, a jump host, and vLLM as Kubernetes workloads behind load balancers.
Settings: the `llm:` config namespace (README, "Configuration").
"""

import pulumi

from components.config.load import load
from components.config.plans import AcsPlan

plan, api_key = load()
if isinstance(plan, AcsPlan):
    from components.acs.shape import build_acs

    outputs = build_acs(plan, api_key)
else:
    from components.ecs.shape import build_ecs

    outputs = build_ecs(plan, api_key)
for name, value in outputs.items():
    pulumi.export(name, value)
