#!/bin/bash
# ExecStart of llm-dcgm.service (llm:observability.metrics = arms): NVIDIA's DCGM exporter in
# the foreground, so systemd supervises it. It serves GPU metrics on :LLM_DCGM_PORT/metrics,
# which the security group opens to the VPC CIDR only. It reads no secret and prints none.
set -euo pipefail

image=${LLM_DCGM_IMAGE:?LLM_DCGM_IMAGE is required (host.env)}
port=${LLM_DCGM_PORT:?LLM_DCGM_PORT is required (host.env)}

docker rm -f llm-dcgm >/dev/null 2>&1 || true
# --cap-add SYS_ADMIN: as the dcgm-exporter README (@dcbb9276) and Helm chart run it; why it is needed is unverified (docs/cloud-contracts.md);
# --net=host so the node's private IP is the scrape target.
exec docker run --rm --name llm-dcgm --net=host --gpus all --cap-add SYS_ADMIN \
  "$image" -a ":$port"
