# shellcheck shell=bash
# Runs an installed Cloud Assistant script with the settings of one run (model-sync.sh, ray-start.sh,
# serve.sh). Sourced by the static command content (components/common/scripts.py render_runner),
# which first writes each invocation parameter, as Cloud Assistant substituted it, verbatim into a
# file of its own through a quoted heredoc: a value is data and is never evaluated by a shell.
# Host setup installs this file as $LLM_LIB_DIR/lib/params.sh.
#
# A parameter file is one line of JSON. Its name says how it becomes LLM_* variables:
#   LLM_<NAME>   the whole value is that variable (a string, a number, a list joined by line
#                breaks, an object rendered as KEY=value lines);
#   <group>.json an object whose camelCase keys name the variables (modelDir -> LLM_MODEL_DIR).
# Values become environment variables through `export "$k=$v"`, never through eval.

# llm_run LIB_DIR SCRIPT SHA256 PARAMS_DIR: checks that host setup installed this release's
# script and libraries (the digest in the command content), loads the parameters, runs the script.
# shellcheck disable=SC2329 # called by the command content
llm_run() {
  local lib=$1 script=$2 want=$3 params=$4 have k v
  have=$(cat "$lib/$script" "$lib/lib/common.sh" "$lib/lib/params.sh" 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ "$have" != "$want" ]; then
    printf 'llm: %s in %s is not the version this command was rendered for (sha256 %s, want %s); host setup (llm:host:HostSetup) installs it\n' \
      "$script" "$lib" "$have" "$want" >&2
    return 1
  fi
  python3 - "$params" >"$params/.env0" <<'PY' || return 1
import json, os, re, sys

KEY = re.compile(r"^LLM_[A-Z0-9_]+$")


def text(v):
    if isinstance(v, bool) or v is None:
        raise ValueError(f"unexpected value {v!r}")
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, list):
        return "\n".join(text(x) for x in v)
    if isinstance(v, dict):
        return "\n".join(f"{k}={text(x)}" for k, x in v.items())
    raise ValueError(f"unexpected value {v!r}")


def env_name(camel):
    return "LLM_" + re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).upper()


out = {}
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    if name.startswith("."):
        continue
    with open(os.path.join(d, name), encoding="utf-8") as f:
        raw = f.read()
    if raw.endswith("\n"):
        raw = raw[:-1]
    if "\n" in raw or "{" * 2 in raw or "}" * 2 in raw:
        sys.exit(f"llm: parameter {name}: a line break or a double brace (got {raw[:80]!r})")
    try:
        value = json.loads(raw)
    except ValueError as e:
        sys.exit(f"llm: parameter {name} is not JSON ({e}): {raw[:80]!r}")
    pairs = {name: value} if name.startswith("LLM_") else None
    if pairs is None:
        if not (name.endswith(".json") and isinstance(value, dict)):
            sys.exit(f"llm: parameter {name}: a group must be a JSON object")
        pairs = {env_name(k): v for k, v in value.items()}
    for k, v in pairs.items():
        if not KEY.match(k):
            sys.exit(f"llm: parameter {name}: {k!r} is not an LLM_* name")
        out[k] = text(v)
        if "\0" in out[k]:
            sys.exit(f"llm: parameter {name}: {k} has a NUL byte")
for k, v in out.items():
    sys.stdout.write(f"{k}\0{v}\0")
PY
  while IFS= read -r -d '' k && IFS= read -r -d '' v; do
    export "$k=$v"
  done <"$params/.env0"
  rm -rf "$params"
  bash "$lib/$script"
}
