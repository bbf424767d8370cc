"""Shared test set-up.

With no credentials, Alibaba's credential chain falls back to the instance metadata address
(100.100.100.200): no test may ever reach it, so the chain is told the metadata service is off
before any SDK is imported.
"""

import os

os.environ["ALIBABA_CLOUD_ECS_METADATA_DISABLED"] = "true"
