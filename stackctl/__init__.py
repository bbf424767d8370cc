"""Operator tools for the LLM inference stack: offline plan, smoke test, load test, logs."""
