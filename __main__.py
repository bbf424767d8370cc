"""A private LLM inference service on Alibaba Cloud: vLLM behind an OpenAI-compatible API.

Deploys (mode ecs-single): a VPC with NAT egress and a security group, a RAM role reading the
model prefix on OSS, an API key in an OOS secret parameter, one GPU ECS instance with a model
disk, the model download and the vLLM service as Cloud Assistant runs, and optionally an EIP.
Settings: the `llm:` config namespace (README, "Configuration").
"""

import pulumi

from components import config
from components.ecs_shape import build_ecs

resolved, api_key = config.load()
outputs = build_ecs(resolved, api_key)
for name, value in outputs.items():
    pulumi.export(name, value)
