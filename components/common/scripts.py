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
import json
import re
import shlex
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path

# Cloud Assistant command content: at most 18 KB after Base64.
COMMAND_B64_LIMIT = 18 * 1024
# InvokeCommand `Parameters` (alibabacloud_ecs20140526 7.11.8, models/_invoke_command_request.py):
# at most 10 custom parameters, keys up to 64 characters, and "after Base64 encoding, the total
# length of the custom parameters and the original command content cannot exceed 24 KB". Issue 13
# quotes 16 KB: we budget 16. Names: letters, digits, `-`, `_`, case-insensitive
# (models/_create_command_request.py, CommandContent).
PARAMETERS_MAX = 10
PARAMETER_KEY_MAX = 64
INVOKE_B64_LIMIT = 16 * 1024
_PARAM_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PARAM_HEREDOC_END = "LLM_PARAM_EOF"

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


# --------------------------------------------------------------------------------------------
# Static command content + invocation parameters (issue 13)
#
# A per-run phase (model sync, Ray, serving) runs its script as host setup installed it. What
# varies between runs reaches it as Cloud Assistant custom parameters on the invocation, each a
# one-line JSON value that Pulumi diffs key by key. The agent substitutes parameters as plain
# text and then resolves `{{oos-secret:...}}`, `{{oos:...}}` and `{{ACS::...}}` in the result
# (research notes Q2), so a value never holds `{{`, `}}` or a line break (settings validation,
# rules_cloud.check_host_strings; checked here again), and the content writes each value into a
# file through a quoted heredoc: data, never evaluated (userdata/lib/params.sh reads them).


def camel(key: str) -> str:
    """LLM_MODEL_WAIT_S -> modelWaitS (the inverse of params.sh's env_name)."""
    first, *rest = key.removeprefix("LLM_").lower().split("_")
    return first + "".join(w.capitalize() for w in rest)


def env_name(camel_key: str) -> str:
    return "LLM_" + re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel_key).upper()


# Env values that are lists (one item per line) or KEY=value lines: as JSON lists and objects.
_LIST_KEYS = frozenset({"LLM_VLLM_ARGS"})
_MAP_KEYS = frozenset({"LLM_NCCL_ENV"})


def _json_value(key: str, value: str) -> object:
    if key in _LIST_KEYS:
        return value.split("\n") if value else []
    if key in _MAP_KEYS:
        return dict(line.split("=", 1) for line in value.split("\n")) if value else {}
    return int(value) if re.fullmatch(r"-?[1-9][0-9]{0,17}|0", value) else value


def _one_line(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))


def param_target(name: str, keys: Sequence[str]) -> str:
    """The file a parameter is written to: LLM_<X> for a single variable, <name>.json for a group."""
    return keys[0] if len(keys) == 1 else f"{name}.json"


def split_params(
    env: Mapping[str, str | int], groups: Mapping[str, Sequence[str]]
) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """(constants, targets, parameters): the env keys no group names stay in the static content;
    each group becomes one parameter (name -> one-line JSON) written to its target file."""
    checked = check_env(env)
    if len(groups) > PARAMETERS_MAX:
        raise ValueError(f"{len(groups)} parameters; Cloud Assistant takes at most {PARAMETERS_MAX}")
    if len({g.lower() for g in groups}) != len(groups):
        raise ValueError("parameter names are case-insensitive: two differ only in case")
    grouped: set[str] = set()
    targets: dict[str, str] = {}
    params: dict[str, str] = {}
    for name, keys in groups.items():
        if not _PARAM_NAME.match(name):  # no ":", so never an ACS:: built-in either
            raise ValueError(f"parameter name {name!r} must match {_PARAM_NAME.pattern}")
        present = [k for k in keys if k in checked]
        if not present:
            raise ValueError(f"parameter {name}: none of {list(keys)} is in the env")
        grouped |= set(present)
        targets[name] = param_target(name, present)
        if len(present) == 1:
            value = _json_value(present[0], checked[present[0]])
        else:
            value = {camel(k): _json_value(k, checked[k]) for k in present}
        text = _one_line(value)
        # JSON escapes every control character (line breaks, NUL) in strings; braces it keeps.
        for bad in ("{{", "}}"):
            if bad in text:
                raise ValueError(f"parameter {name}: {bad!r} in {text[:80]!r} (Cloud Assistant would read it)")
        params[name] = text
    constants = {k: v for k, v in checked.items() if k not in grouped}
    return constants, targets, params


def decode_params(targets: Mapping[str, str], params: Mapping[str, str]) -> dict[str, str]:
    """What userdata/lib/params.sh exports for these parameters (a mirror, for tests and the plan)."""

    def text(v: object) -> str:
        if isinstance(v, list):
            return "\n".join(text(x) for x in v)
        if isinstance(v, dict):
            return "\n".join(f"{k}={text(x)}" for k, x in v.items())
        return str(v)

    out: dict[str, str] = {}
    for name, target in targets.items():
        value = json.loads(params[name])
        pairs = {target: value} if target.startswith("LLM_") else {env_name(k): v for k, v in value.items()}
        out |= {k: text(v) for k, v in pairs.items()}
    return out


def render_runner(script: str, constants: Mapping[str, str | int], targets: Mapping[str, str], digest: str) -> str:
    """Static command content: write each parameter to its file (quoted heredoc), export the
    constants, then run the installed `userdata/<script>` through params.sh's llm_run."""
    checked = check_env(constants)
    for key, value in checked.items():
        if "{{" in value and not _SECRET_REF.match(value):
            raise ValueError(f"env {key}: '{{{{' is allowed only as a whole {{{{oos-secret:NAME}}}}")
    lib = checked["LLM_LIB_DIR"]
    for t in targets.values():
        if not re.fullmatch(r"LLM_[A-Z0-9_]+|[A-Za-z0-9_-]+\.json", t):
            raise ValueError(f"parameter file {t!r}")
    writes = "".join(
        f"cat >\"$p/{target}\" <<'{PARAM_HEREDOC_END}'\n{{{{{name}}}}}\n{PARAM_HEREDOC_END}\n"
        for name, target in targets.items()
    )
    return (
        "#!/bin/bash\n"
        f"# llm-inference: runs userdata/{script} as host setup installed it in {lib}, with this run's\n"
        "# settings: the invocation's parameters, each written below to a file as data (never evaluated).\n"
        "set -euo pipefail\n"
        "p=$(umask 077 && mktemp -d)\n"
        "trap 'rm -rf \"$p\"' EXIT\n"
        + writes
        + env_block(checked)
        + f". {shlex.quote(lib)}/lib/params.sh\n"
        + f'llm_run {shlex.quote(lib)} {shlex.quote(script)} {digest} "$p"\n'
    )


def parameter_names(content: str) -> set[str]:
    """The custom parameters a command content names (not the oos-secret/oos/ACS references)."""
    names = {m.strip() for m in re.findall(r"\{\{([^{}]*)\}\}", content)}
    return {n for n in names if not re.match(r"(?i)^(oos-secret:|oos:|acs::)", n)}


def invoke_b64_size(content: str, params: Mapping[str, str]) -> int:
    """Base64 length of the content plus the parameters (as the InvokeCommand JSON map)."""
    encoded = base64.b64encode(json.dumps(dict(params), ensure_ascii=False).encode("utf-8"))
    return len(encode_command(content)) + len(encoded)
