"""Ports the stack serves and opens, in one place (vLLM, Ray)."""

PORT = 8000  # vLLM's OpenAI-compatible API
RAY_PORT = 6379  # Ray's GCS on the head
RAY_DASHBOARD_PORT = 8265
READY_PORT = 8001  # the readiness responder the load balancer's health check targets (replicas)
