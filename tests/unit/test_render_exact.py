"""The host-script renderer pinned to exact output (issue 17): packing, hashing, host.env, args."""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile

import pytest

from components.common import scripts
from components.ecs import userdata


def test_join_args_one_per_line_and_refuses_newlines():
    assert scripts.join_args(["--a", "b c", ""]) == "--a\nb c\n"
    with pytest.raises(ValueError, match="contains a newline or NUL"):
        scripts.join_args(["ok", "a\nb"])
    with pytest.raises(ValueError, match="contains a newline or NUL"):
        scripts.join_args(["a\0b"])


def test_pack_files_is_a_reproducible_root_owned_tar():
    packed = scripts.pack_files({"b.sh": "echo b\n", "a.txt": "é"})
    assert packed == scripts.pack_files({"a.txt": "é", "b.sh": "echo b\n"})  # order of the mapping is irrelevant
    raw = gzip.decompress(base64.b64decode(packed))
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a.txt", "b.sh"]
        assert [(m.mode, m.mtime, m.uname, m.gname, m.size) for m in members] == [
            (0o644, 0, "root", "root", 2),  # é is 2 bytes in UTF-8
            (0o644, 0, "root", "root", 7),
        ]
        assert tar.extractfile(members[1]).read() == b"echo b\n"  # type: ignore[union-attr]
    assert base64.b64decode(packed)[4:8] == b"\0\0\0\0"  # gzip mtime 0


def test_files_hash_exact():
    files = {"b": "2", "a": "1"}
    expected = hashlib.sha256(b"a\x001\x00b\x002\x00").hexdigest()[:16]
    assert userdata.files_hash(files) == expected
    assert userdata.files_hash({"a": "12"}) != userdata.files_hash({"a1": "2"})


def test_host_env_text_exact_and_refusals():
    assert userdata.host_env_text({"LLM_A": "x", "LLM_B": 3}) == "LLM_A=x\nLLM_B=3"
    with pytest.raises(ValueError, match="must never be in host.env"):
        userdata.host_env_text({"LLM_API_KEY": "k"})
    with pytest.raises(ValueError, match=r"host.env values must match .* \(got 'a b'\)"):
        userdata.host_env_text({"LLM_A": "a b"})


def test_strip_comments_keeps_shellcheck_and_heredoc_bodies():
    body = "# gone\n  # gone too\n# shellcheck disable=SC2034\ncat <<'EOF'\n# kept\nEOF\n# gone\necho x # kept\n"
    assert scripts.strip_comments(body) == "# shellcheck disable=SC2034\ncat <<'EOF'\n# kept\nEOF\necho x # kept\n"
    assert scripts.strip_comments("cat <<< '# x'\n# gone\n") == "cat <<< '# x'\n"  # a here-string is no heredoc


def test_render_command_exact():
    content = scripts.render_command("#!/bin/sh\n# c\necho hi\n", {"LLM_A": "a b"}, source="x.sh")
    assert content == "#!/bin/bash\n# userdata/x.sh, comments stripped\nexport LLM_A='a b'\necho hi\n"
    assert scripts.render_command("echo\n", {}) == "#!/bin/bash\necho\n"
    assert scripts.render_command("#!/bin/sh", {}) == "#!/bin/bash\n"
    assert scripts.encode_command("é") == "w6k="


def test_installed_text_strips_comments_of_scripts_only():
    text = userdata.installed_text("host-bootstrap.sh")
    first, second, _ = text.split("\n", 2)
    assert first.startswith("#!") and second == "# userdata/host-bootstrap.sh of llm-inference, comments stripped"
    assert userdata.installed_text("llm-vllm.service") == scripts.script_text("llm-vllm.service")
    assert set(userdata.host_files(ray=False)) == set(userdata.HOST_FILES)
    assert set(userdata.host_files(ray=True)) == set(userdata.HOST_FILES + userdata.RAY_FILES)
