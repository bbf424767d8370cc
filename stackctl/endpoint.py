"""Where the endpoint is: URL, API key and model name, from a stack or from flags.

Shared by `smoke`, `bench` (and `logs` for the stack outputs). Two ways in:

* ``--stack NAME``: runs ``pulumi stack output --json --show-secrets --stack NAME`` and reads
  ``publicEndpoint`` (preferred when not null, unless ``--private``), ``privateEndpoint``,
  ``servedModelName`` and ``apiKey``;
* ``--url URL [--api-key-env VAR] [--model NAME]``: no Pulumi needed; the key is read from the
  environment variable VAR (default ``OPENAI_API_KEY``), never from the command line, so it
  does not land in shell history or ``ps``.

``--model`` and ``--api-key-env`` also override what the stack says.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EXIT_CONFIG = 2  # bad flags, missing key, pulumi failed: nothing was sent

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


class EndpointError(Exception):
    """The endpoint could not be resolved; the message is one line for the operator."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends in /v1
    api_key: str
    model: str | None  # None: pick from /v1/models
    source: str  # where it came from, for the report (never contains the key)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("endpoint (one of --stack or --url)")
    x = g.add_mutually_exclusive_group(required=True)
    x.add_argument("--stack", help="Pulumi stack whose outputs name the endpoint (e.g. dev)")
    x.add_argument("--url", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    g.add_argument(
        "--api-key-env",
        metavar="VAR",
        help="environment variable holding the API key (default with --url: OPENAI_API_KEY; "
        "with --stack: the stack's apiKey output)",
    )
    g.add_argument("--model", help="served model name (default: the stack's servedModelName)")
    g.add_argument(
        "--private",
        action="store_true",
        help="use privateEndpoint even if publicEndpoint is set",
    )
    g.add_argument("--cwd", help="directory of the Pulumi project (default: current directory)")


def stack_outputs(stack: str, cwd: str | None = None, runner: Runner = subprocess.run) -> dict[str, Any]:
    """The stack's outputs, secrets shown. Raises EndpointError with a one-line reason."""
    cmd = ["pulumi", "stack", "output", "--json", "--show-secrets", "--stack", stack]
    try:
        proc = runner(cmd, capture_output=True, text=True, cwd=cwd, timeout=120, check=False)
    except FileNotFoundError:
        raise EndpointError("pulumi CLI not found on PATH; install it or pass --url instead of --stack") from None
    except subprocess.TimeoutExpired:
        raise EndpointError(f"`{' '.join(cmd)}` took longer than 120 s") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        raise EndpointError(f"pulumi stack output --stack {stack} failed: {reason}")
    try:
        outputs = json.loads(proc.stdout or "{}")
    except json.JSONDecodeError as e:
        raise EndpointError(f"pulumi stack output --stack {stack} did not print JSON: {e}") from None
    if not isinstance(outputs, dict):
        raise EndpointError(f"pulumi stack output --stack {stack} printed {type(outputs).__name__}, not an object")
    return outputs


def normalize_url(url: str) -> str:
    """Strip trailing slashes; a bare host[:port] gets vLLM's /v1 path."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EndpointError(f"--url must be http(s)://host[:port][/path], got {url!r}")
    if parts.path in ("", "/"):
        url += "/v1"
    return url


def resolve(args: argparse.Namespace, runner: Runner = subprocess.run, environ: Any = None) -> Endpoint:
    env = os.environ if environ is None else environ
    model = getattr(args, "model", None)
    key_env = getattr(args, "api_key_env", None)
    if getattr(args, "url", None):
        var = key_env or "OPENAI_API_KEY"
        key = env.get(var)
        if not key:
            raise EndpointError(f"environment variable {var} is not set (it holds the API key; see --api-key-env)")
        return Endpoint(normalize_url(args.url), key, model, "--url")

    stack = args.stack
    outputs = stack_outputs(stack, cwd=getattr(args, "cwd", None), runner=runner)
    public = outputs.get("publicEndpoint")
    private = outputs.get("privateEndpoint")
    if public and not getattr(args, "private", False):
        url, which = public, "publicEndpoint"
    elif private:
        url, which = private, "privateEndpoint"
    else:
        raise EndpointError(f"stack {stack} has no publicEndpoint/privateEndpoint output (was it deployed?)")
    if key_env:
        key = env.get(key_env)
        if not key:
            raise EndpointError(f"environment variable {key_env} is not set (it holds the API key)")
    else:
        key = outputs.get("apiKey")
        if not key:
            raise EndpointError(f"stack {stack} has no apiKey output; pass --api-key-env VAR")
    model = model or outputs.get("servedModelName")
    return Endpoint(normalize_url(str(url)), str(key), model, f"stack {stack} ({which})")
