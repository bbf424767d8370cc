"""Render the host scripts in `userdata/` into Cloud Assistant command content (user-data: `ecs/userdata.py`).

Pure functions, no Pulumi imports. The scripts themselves are real files (shellcheck-clean,
tested in a sandbox); everything that varies reaches them as `LLM_*` environment variables in
a block this module renders and prepends. No template syntax is used: Cloud Assistant parses
every `{{...}}` in a command as a parameter once parameters are enabled, so the only `{{` ever
rendered is the `{{oos-secret:NAME}}` reference for the API key.
"""

from __future__ import annotations

import base64
import gzip
import io
import re
import shlex
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# Cloud Assistant command content: at most 18 KB after Base64.
COMMAND_B64_LIMIT = 18 * 1024

USERDATA_DIR = Path(__file__).resolve().parents[2] / "userdata"

_KEY = re.compile(r"^LLM_[A-Z0-9_]+$")
# The only parameter reference allowed in command content (a whole value, nothing around it).
_SECRET_REF = re.compile(r"^\{\{oos-secret:[A-Za-z0-9_./-]+\}\}$")
HEREDOC_END = "LLM_EOF"
# A heredoc opener (not a `<<<` here-string): its body is data and is kept verbatim.
_HEREDOC_START = re.compile(r"(?<!<)<<-?(?!<)\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")
_COMMENT_LINE = re.compile(r"^\s*#")
# How a Cloud Assistant script sources a helper library next to it (so that it also runs from
# userdata/ in the sandbox); in command content the line is replaced by the library's body.
_SOURCE_LINE = re.compile(r'^\. "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/(lib/[a-z0-9_-]+\.sh)"$', re.M)


def check_env(env: Mapping[str, str | int]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in env.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"env key {key!r} must match {_KEY.pattern}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise TypeError(f"env {key}: value must be str or int (got {type(value).__name__})")
        text = str(value)
        if "\0" in text:
            raise ValueError(f"env {key}: value contains a NUL byte")
        out[key] = text
    return out


def env_block(env: Mapping[str, str | int]) -> str:
    """One `export KEY=<shell-quoted value>` line per key, in the given order."""
    checked = check_env(env)
    return "".join(f"export {k}={shlex.quote(v)}\n" for k, v in checked.items())


def join_args(args: Sequence[str]) -> str:
    """Render a vLLM argument list as LLM_VLLM_ARGS: one argument per line (read by mapfile)."""
    for arg in args:
        if "\n" in arg or "\0" in arg:
            raise ValueError(f"vLLM argument {arg!r} contains a newline or NUL")
    return "\n".join(args)


def script_text(name: str) -> str:
    """The text of `userdata/<name>`."""
    path = USERDATA_DIR / name
    if path.parent != USERDATA_DIR:
        raise ValueError(f"{name!r} is not a file name in userdata/")
    return path.read_text(encoding="utf-8")


def library_text(rel: str) -> str:
    """The text of `userdata/lib/<name>.sh` (`rel` as the source line names it: lib/<name>.sh)."""
    path = (USERDATA_DIR / rel).resolve()
    if path.parent != USERDATA_DIR / "lib":
        raise ValueError(f"{rel!r} is not a file in userdata/lib/")
    return path.read_text(encoding="utf-8")


def inline_libraries(script: str) -> str:
    """The script with each `. "$(dirname ...)/lib/X.sh"` line replaced by that library's text."""
    return _SOURCE_LINE.sub(lambda m: library_text(m[1]).rstrip("\n"), script)


def script_env(name: str) -> frozenset[str]:
    """The `LLM_*` variables that `userdata/<name>` mentions (all are optional unless the script
    says `${VAR:?...}`); lets callers check an env mapping for typos."""
    return frozenset(re.findall(r"\bLLM_[A-Z0-9_]*[A-Z0-9]\b", script_text(name)))


def _body(script: str) -> str:
    """A script without its shebang line (the rendered content has its own)."""
    if script.startswith("#!"):
        script = script.split("\n", 1)[1] if "\n" in script else ""
    return script


def strip_comments(body: str) -> str:
    """Drop whole-line comments (not `# shellcheck` directives, not heredoc bodies).

    Command content is limited to 18 KB after Base64; the comments stay in `userdata/`, the
    source the content names. A `#` line inside a multi-line quoted string would be dropped
    too: the scripts keep only Python snippets there, where such a line is a comment as well.
    """
    out: list[str] = []
    end: str | None = None
    for line in body.splitlines(keepends=True):
        if end is not None:
            out.append(line)
            if line.strip() == end:
                end = None
            continue
        if _COMMENT_LINE.match(line) and not line.lstrip().startswith("# shellcheck"):
            continue
        opener = _HEREDOC_START.search(line)
        if opener:
            end = opener.group(2)
        out.append(line)
    return "".join(out)


def render_command(script: str, env: Mapping[str, str | int], *, source: str | None = None) -> str:
    """Cloud Assistant command content: shebang, env block, script body without its comments.

    The body must not contain `{{`; a value may contain it only as a whole
    `{{oos-secret:NAME}}` reference (resolved by Cloud Assistant at run time). `source` (a file
    name in `userdata/`) is named in a first comment line for whoever reads the command.
    """
    checked = check_env(env)
    body = strip_comments(inline_libraries(_body(script)))
    if "{{" in body:
        raise ValueError("script body contains '{{', which Cloud Assistant parses as a parameter")
    for key, value in checked.items():
        if "{{" in value and not _SECRET_REF.match(value):
            raise ValueError(f"env {key}: '{{{{' is allowed only as a whole {{{{oos-secret:NAME}}}}")
    head = f"# userdata/{source}, comments stripped\n" if source else ""
    return "#!/bin/bash\n" + head + env_block(checked) + body


def encode_command(content: str) -> str:
    """Base64 of the command content, as `ecs.Command(command_content=...)` takes it."""
    return base64.b64encode(content.encode("utf-8")).decode("ascii")


def pack_files(files: Mapping[str, str]) -> str:
    """Base64 of a reproducible tar.gz (sorted, mtime 0, root-owned, 0644): same files, same text."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(files):
            data = files[name].encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(gzip.compress(raw.getvalue(), mtime=0)).decode("ascii")
