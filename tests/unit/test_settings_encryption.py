"""llm:encryption: on by default, a KMS key ID checked, and the flags reach every disk."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components.config.model import EncryptionSettings
from tests import planning as P

KEY = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def test_on_by_default_without_a_key():
    e = EncryptionSettings()
    assert e.enabled is True and e.kms_key_id is None


@pytest.mark.parametrize("key", [KEY, "key-hzz65f1e6f3rs2m1bzs4f"])
def test_a_key_id_is_accepted(key):
    assert EncryptionSettings(kmsKeyId=key).kms_key_id == key


@pytest.mark.parametrize("key", ["", "alias/acs/ecs", "0B1C2D3E-4F50-6172-8394-A5B6C7D8E9F0", "key-", "key id"])
def test_a_malformed_key_id_is_refused(key):
    with pytest.raises(ValidationError, match="KMS key ID"):
        EncryptionSettings(kmsKeyId=key)


def test_a_key_without_encryption_is_refused():
    with pytest.raises(ValidationError, match="enabled is false"):
        EncryptionSettings(enabled=False, kmsKeyId=KEY)


def test_flags_and_key_reach_system_and_model_disks(tmp_path):
    res = P.by_name(P.run(tmp_path, P.with_changes(P.stack_config("prod"), encryption={"kmsKeyId": KEY}), "prod"))
    for n in ("node", "worker-1"):
        i, d = res[f"{n}-instance"]["inputs"], res[f"{n}-model-disk"]["inputs"]
        assert (i["systemDiskEncrypted"], i["systemDiskKmsKeyId"]) == (True, KEY)
        assert (d["encrypted"], d["kmsKeyId"]) == (True, KEY)


def test_off_sends_no_flag_at_all(tmp_path):
    res = P.by_name(P.run(tmp_path, P.with_changes(P.stack_config("acs"), encryption={"enabled": False}), "acs"))
    assert not {"systemDiskEncrypted", "systemDiskKmsKeyId"} & set(res["jump-host-instance"]["inputs"])


def test_bad_key_is_a_config_problem_naming_the_key(tmp_path):
    from planner.config import PlanConfigError

    with pytest.raises(PlanConfigError, match=r"llm:encryption\.kmsKeyId"):
        P.run(tmp_path, P.with_changes(P.stack_config("dev"), encryption={"kmsKeyId": "nope"}))
