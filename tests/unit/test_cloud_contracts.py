"""The cloud-contracts ledger (docs/cloud-contracts.md, DESIGN section 6) stays complete.

Three checks, each run on the real tree and on a planted omission (so each can fail):
(a) every external program and every long flag (`--xyz`) a host script in userdata/ (lib/ and the
    systemd units' Exec lines included) uses has a ledger row that mentions it in a code span,
    unless tests/unit/ledger_allowlist.txt names it (bash builtins, keywords, coreutils);
(b) every file a row names in "where" exists, and every test in "pinned by" exists (the file and
    the test function in it); status is `verified` or `unverified`, and `—` in "pinned by" only on
    an unverified row;
(c) every resource property the example plans set (`type` + input key in tests/golden/*/
    resources.json, except `llm:` components and our own dynamic provider) has a row: a code span
    `TYPE.property`, or a `TYPE.*` row listing the properties as code spans.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LEDGER = ROOT / "docs" / "cloud-contracts.md"
ALLOWLIST = Path(__file__).with_name("ledger_allowlist.txt")
COLUMNS = ["fact", "where (file)", "primary source", "status", "pinned by"]
# Plan types whose inputs are ours, not a cloud's: components, and the agent-online gate's own
# provider (its inputs are documented where it is defined).
OWN_TYPES = ("llm:", "pulumi-python:dynamic:")


@dataclass(frozen=True)
class Row:
    line: int
    fact: str
    where: str
    source: str
    status: str
    pinned: str


def split_cells(line: str) -> list[str]:
    """Cells of one Markdown table line; `|` inside a code span does not split."""
    cells, cell, in_code = [], "", False
    for ch in line.strip().strip("|"):
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += ch
    cells.append(cell.strip())
    return cells


def parse_ledger(text: str) -> tuple[list[Row], list[str]]:
    """The rows of every table with the ledger's header; problems with the tables themselves."""
    rows: list[Row] = []
    problems: list[str] = []
    table = ""  # "", "ledger" or "other"
    for no, line in enumerate(text.splitlines(), 1):
        if not line.lstrip().startswith("|"):
            table = ""
            continue
        cells = split_cells(line)
        if table == "other":
            continue
        if not table:
            if [c.lower() for c in cells] == COLUMNS:
                table = "ledger"
            else:
                table = "other"
                problems.append(f"line {no}: a table whose header is not {' | '.join(COLUMNS)}")
            continue
        if set("".join(cells)) <= set("-: "):
            continue
        if len(cells) != len(COLUMNS):
            problems.append(f"line {no}: {len(cells)} cells, expected {len(COLUMNS)}")
            continue
        rows.append(Row(no, *cells))
    return rows, problems


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`]+)`", text)


def mentioned_words(rows: list[Row]) -> set[str]:
    """Every word of every code span in the fact column (`ossutil cp --parallel` gives three)."""
    words: set[str] = set()
    for row in rows:
        for span in code_spans(row.fact):
            words.update(re.findall(r"--?[A-Za-z0-9][\w.-]*|[A-Za-z_][\w.+-]*", span))
            words.add(span.strip())
    return words


# --- (a) programs and long flags in the host scripts ----------------------------------------

KEYWORDS_TAKING_COMMAND = {"then", "do", "else", "elif", "if", "while", "until", "!", "{", "}", "time"}
WRAPPERS = {"sudo", "exec", "nohup", "command", "builtin"}
NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.+-]*$")
LONG_FLAG = re.compile(r"(?<![\w-])--[a-z0-9][a-z0-9-]*[a-z0-9]")
HEREDOC = re.compile(r"<<-?\s*(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


def _scan(raw: str, quote: str | None) -> tuple[str, str | None]:
    """One physical line without its comment, and the quote still open at its end."""
    kept: list[str] = []
    j = 0
    while j < len(raw):
        ch = raw[j]
        if quote == "'":
            quote = None if ch == "'" else quote
        elif ch == "\\":
            kept.append(raw[j : j + 2])
            j += 2
            continue
        elif quote == '"':
            quote = None if ch == '"' else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (j == 0 or raw[j - 1] in " \t;"):
            break
        kept.append(ch)
        j += 1
    return "".join(kept), quote


def _logical_lines(text: str) -> list[str]:
    """Commands as logical lines: continuations and multi-line quoted strings joined, comments
    dropped, heredoc bodies removed unless the body is itself a script (starts with `#!`), in
    which case it is read as more lines."""
    out: list[str] = []
    lines = text.split("\n")
    buf, quote, i = "", None, 0
    while i < len(lines):
        piece, quote = _scan(lines[i], quote)
        i += 1
        if quote is None and piece.endswith("\\"):
            buf += piece[:-1] + " "
            continue
        buf += piece
        if quote is not None:
            buf += "\n"
            continue
        line, buf = buf, ""
        if not line.strip():
            continue
        out.append(line)
        m = HEREDOC.search(line.replace("<<<", "   "))
        if m:
            body: list[str] = []
            while i < len(lines) and lines[i].strip() != m.group(2):
                body.append(lines[i])
                i += 1
            i += 1
            if body and body[0].startswith("#!"):
                out.extend(_logical_lines("\n".join(body)))
    return out


def _substitutions(line: str) -> list[str]:
    """The line and every `$(...)` inside it, innermost first, as separate command lines."""
    line = re.sub(r"\$?\(\((?:[^()]|\([^()]*\))*\)\)", "0", line)  # arithmetic
    found: list[str] = []
    pattern = re.compile(r"\$\(([^()]*)\)|`([^`]*)`")
    while True:
        m = pattern.search(line)
        if not m:
            break
        found.append(m.group(1) if m.group(1) is not None else m.group(2))
        line = line[: m.start()] + "$S" + line[m.end() :]
    parts = []
    for part in [*found, line]:
        while re.search(r"\$\{[^{}]*\}", part):  # parameter expansions, innermost first
            part = re.sub(r"\$\{[^{}]*\}", "$V", part)
        parts.append(part)
    return parts


def _commands_in(line: str) -> tuple[set[str], set[str]]:
    """(commands, functions defined) in one logical line without substitutions."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()<>")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote in a fragment: fall back to plain words
        tokens = line.split()
    commands: set[str] = set()
    functions: set[str] = set()
    at_command = True
    skip_until_in = False
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith("/") and len(tok) > 1:
            tok = tok.rsplit("/", 1)[-1]  # /usr/bin/docker
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        i += 1
        if skip_until_in:
            skip_until_in = tok != "in"
            at_command = True
            continue
        if set(tok) <= set(";&|()"):
            at_command = True
            continue
        if tok in ("<(", ">(") or (set(tok) <= set("<>") and nxt == "("):
            at_command = True  # a process substitution
            i += 0 if tok.endswith("(") else 1
            continue
        if set(tok) <= set("<>"):
            i += 1  # the redirection target
            continue
        if not at_command:
            continue
        if tok in KEYWORDS_TAKING_COMMAND:
            continue
        if tok == "case":
            skip_until_in = True
            continue
        if tok in ("for", "select"):
            at_command = False
            continue
        if tok.endswith("=") and nxt == "(":  # an array assignment
            while i < len(tokens) and tokens[i] != ")":
                i += 1
            i += 1
            continue
        if re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\[[^]]*\])?\+?=", tok):
            continue  # an assignment before the command
        if tok == "[[":  # a test: no commands inside
            while i < len(tokens) and tokens[i] != "]]":
                i += 1
            i += 1
            at_command = False
            continue
        if tok.isdigit() and nxt and set(nxt) <= set("<>"):
            continue  # `9>file`
        if nxt == ")":
            at_command = True  # a case pattern
            i += 1
            continue
        if nxt == "()" or (nxt == "(" and i + 1 < len(tokens) and tokens[i + 1] == ")"):
            functions.add(tok)
            i += 1 if nxt == "()" else 2
            continue
        if tok == "function":
            functions.add(nxt)
            i += 1
            continue
        if tok in WRAPPERS:
            if tok == "command" and nxt == "-v":
                i += 1
            continue
        if tok == "env":
            continue
        if tok == "timeout":  # `timeout [-k N] DURATION cmd`
            commands.add(tok)
            while i < len(tokens) and tokens[i].startswith("-"):
                i += 2 if tokens[i] in ("-k", "-s") else 1
            i += 1
            continue
        if NAME.match(tok):
            commands.add(tok)
        at_command = False
        if tok == "docker":  # the program a container runs is relied on too
            commands |= _container_programs(tokens[i:])
    return commands, functions


DOCKER_VALUED = {"--env-file", "-e", "--env", "-u", "--user", "-w", "--workdir", "--name", "-v"}


def _container_programs(args: list[str]) -> set[str]:
    """`docker exec [opts] CONTAINER PROG` (`--entrypoint PROG` is read from the whole line)."""
    found = set()
    if args and args[0] == "exec":
        k = 1
        while k < len(args) and args[k].startswith("-"):
            k += 2 if args[k] in DOCKER_VALUED else 1
        if k + 1 < len(args) and NAME.match(args[k + 1]):
            found.add(args[k + 1])
    return found


def script_usage(text: str, unit: bool = False) -> tuple[set[str], set[str]]:
    """(external commands, long flags) one script or systemd unit uses; functions it defines and
    the names of variables are not commands."""
    commands: set[str] = set()
    functions: set[str] = set()
    flags: set[str] = set()
    if unit:
        lines = [
            re.sub(r"^[-+@!:]+", "", line.split("=", 1)[1].strip())
            for line in text.splitlines()
            if re.match(r"^Exec\w*=", line)
        ]
    else:
        lines = _logical_lines(text)
    for line in lines:
        flags.update(LONG_FLAG.findall(line))
        commands.update(p.rsplit("/", 1)[-1] for p in re.findall(r"--entrypoint[= ]+([\w/.-]+)", line))
        for part in _substitutions(line):
            found, defined = _commands_in(part)
            commands |= found
            functions |= defined
    commands = {c.rsplit("/", 1)[-1] if c.startswith("/") else c for c in commands}
    return commands - functions, flags


def load_allowlist(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line.split()[0])
    return names


def check_scripts(rows: list[Row], scripts: dict[str, str], allow: set[str]) -> list[str]:
    """One problem per program or long flag a script uses that no row mentions."""
    mentioned = mentioned_words(rows)
    defined: set[str] = set()
    usage: dict[str, tuple[set[str], set[str]]] = {}
    for path, text in scripts.items():
        usage[path] = script_usage(text, unit=path.endswith(".service"))
        defined |= {m.group(1) for m in re.finditer(r"^\s*([A-Za-z_][\w-]*)\s*\(\)", text, re.M)}
    own = {Path(p).name for p in scripts}
    problems = []
    for path, (commands, flags) in sorted(usage.items()):
        for cmd in sorted(commands - defined - own - allow - mentioned):
            problems.append(f"{path}: program `{cmd}` has no ledger row (or allowlist line)")
        for flag in sorted(flags - allow - mentioned):
            problems.append(f"{path}: flag `{flag}` has no ledger row (or allowlist line)")
    return problems


def userdata_scripts() -> dict[str, str]:
    files = sorted((ROOT / "userdata").rglob("*"))
    return {str(p.relative_to(ROOT)): p.read_text() for p in files if p.is_file() and p.suffix in (".sh", ".service")}


# --- (b) files and tests the rows name --------------------------------------------------------

TEST_REF = re.compile(r"(tests/[\w/.-]+\.py)::([A-Za-z_]\w*)")
PATH_REF = re.compile(r"^[\w.-]+(/[\w.@-]+)*(\.\w+|/)$")


def where_paths(cell: str) -> list[str]:
    """Repo paths named in code spans (`components/ecs/gpu_node.py`, `userdata/`, `README.md`)."""
    paths = []
    for span in code_spans(cell):
        span = span.split()[0] if span.split() else span
        if ("/" in span or re.search(r"\.(py|sh|md|json|yaml|service|txt)$", span)) and PATH_REF.match(span):
            paths.append(span)
    return paths


def check_references(rows: list[Row], root: Path) -> list[str]:
    problems = []
    sources: dict[Path, str] = {}
    for row in rows:
        at = f"line {row.line}"
        if row.status not in ("verified", "unverified"):
            problems.append(f"{at}: status {row.status!r} is neither `verified` nor `unverified`")
        paths = where_paths(row.where)
        if not paths:
            problems.append(f'{at}: "where" names no repo file in a code span ({row.where!r})')
        for path in paths:
            if not (root / path.rstrip("/")).exists():
                problems.append(f'{at}: "where" names {path}, which does not exist')
        refs = TEST_REF.findall(row.pinned)
        if not refs:
            if not row.pinned.startswith("—"):
                problems.append(f'{at}: "pinned by" names no tests/...py::test_name ({row.pinned!r})')
            elif row.status == "verified":
                problems.append(f'{at}: `—` in "pinned by" on a verified row')
        for path, name in refs:
            file = root / path
            if not file.exists():
                problems.append(f'{at}: "pinned by" names {path}, which does not exist')
                continue
            text = sources.setdefault(file, file.read_text())
            if not re.search(rf"^\s*(async\s+)?def {name}\(", text, re.M):
                problems.append(f'{at}: "pinned by" names {path}::{name}, which is not defined there')
    return problems


# --- (c) resource properties the plans set ----------------------------------------------------

PROPERTY_REF = re.compile(r"^([a-z][\w-]*:[\w./-]+:[A-Za-z]\w*)\.(\*|[A-Za-z_]\w*)$")


def covered_properties(rows: list[Row]) -> set[tuple[str, str]]:
    covered: set[tuple[str, str]] = set()
    for row in rows:
        spans = code_spans(row.fact)
        for span in spans:
            m = PROPERTY_REF.match(span.strip())
            if not m:
                continue
            if m.group(2) == "*":
                covered |= {(m.group(1), s) for s in spans if re.fullmatch(r"[A-Za-z_]\w*", s)}
            else:
                covered.add((m.group(1), m.group(2)))
    return covered


def plan_properties(plans: list[list[dict]]) -> set[tuple[str, str]]:
    found = set()
    for resources in plans:
        for res in resources:
            if res["type"].startswith(OWN_TYPES):
                continue
            found |= {(res["type"], key) for key in res["inputs"]}
    return found


def check_properties(rows: list[Row], plans: list[list[dict]]) -> list[str]:
    missing = plan_properties(plans) - covered_properties(rows)
    return [f"`{t}.{k}` (set by an example plan) has no ledger row" for t, k in sorted(missing)]


def golden_plans() -> list[list[dict]]:
    return [json.loads(p.read_text()) for p in sorted((ROOT / "tests" / "golden").glob("*/resources.json"))]


# --- the ledger as it is -----------------------------------------------------------------------


def ledger_rows() -> list[Row]:
    rows, problems = parse_ledger(LEDGER.read_text())
    assert not problems, "\n".join(problems)
    return rows


def test_ledger_tables_parse_and_have_rows():
    rows = ledger_rows()
    assert len(rows) > 100
    assert {r.status for r in rows} == {"verified", "unverified"}


def test_every_script_program_and_long_flag_has_a_row():
    problems = check_scripts(ledger_rows(), userdata_scripts(), load_allowlist(ALLOWLIST.read_text()))
    assert not problems, "\n".join(problems)


def test_every_file_and_test_a_row_names_exists():
    problems = check_references(ledger_rows(), ROOT)
    assert not problems, "\n".join(problems)


def test_every_property_the_example_plans_set_has_a_row():
    problems = check_properties(ledger_rows(), golden_plans())
    assert not problems, "\n".join(problems)


def test_allowlist_lines_give_a_reason_and_no_program_with_a_row():
    text = ALLOWLIST.read_text()
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            assert "#" in line, f"allowlist line without a reason: {line!r}"
    listed = load_allowlist(text)
    assert not {"docker", "ossutil", "systemctl", "curl", "nvidia-smi"} & listed


# --- each check fails on a planted omission -------------------------------------------------

HEADER = "| fact | where (file) | primary source | status | pinned by |\n|---|---|---|---|---|\n"


def planted(*rows: str) -> list[Row]:
    parsed, problems = parse_ledger(HEADER + "\n".join(rows) + "\n")
    assert not problems
    return parsed


def test_planted_script_omission_is_reported():
    script = (
        "#!/bin/bash\nset -euo pipefail\n"
        "log() { printf '%s\\n' \"$*\"; }\n"
        "if ! out=$(nvidia-smi --query-gpu=name --format=csv 2>&1); then log no; fi\n"
        "timeout 5 curl -fsS --max-time 3 http://x | jq .\n"
        "exec 9>/tmp/lock\nX=1 docker pull -q img  # comment with fakeprog --nope\n"
        'case "$1" in start) mkfs.ext4 -F /dev/x ;; esac\n'
    )
    rows = planted(
        "| `nvidia-smi --query-gpu=name --format=csv` | `userdata/x.sh` | s | verified | — |",
        "| `curl -fsS --max-time` | `userdata/x.sh` | s | verified | — |",
    )
    allow = {"set", "printf", "timeout", "esac", "fi"}
    problems = check_scripts(rows, {"userdata/x.sh": script}, allow)
    text = "\n".join(problems)
    assert "program `jq`" in text and "program `docker`" in text and "program `mkfs.ext4`" in text
    assert "nvidia-smi" not in text and "curl" not in text and "log`" not in text
    assert "fakeprog" not in text and "--nope" not in text and "program `start`" not in text
    assert len(problems) == 3
    rows = planted(
        "| `docker pull -q`, `jq`, `mkfs.ext4 -F` | `userdata/x.sh` | s | verified | — |",
        "| `curl -fsS` | `userdata/x.sh` | s | verified | — |",
        "| `nvidia-smi --query-gpu` | `userdata/x.sh` | s | verified | — |",
    )
    assert check_scripts(rows, {"userdata/x.sh": script}, allow) == [
        "userdata/x.sh: flag `--format` has no ledger row (or allowlist line)",
        "userdata/x.sh: flag `--max-time` has no ledger row (or allowlist line)",
    ]


def test_planted_unit_exec_line_is_checked():
    unit = "[Service]\nExecStartPre=-/usr/bin/docker rm -f x\nExecStart=/usr/local/lib/llm/run.sh\n"
    problems = check_scripts([], {"userdata/x.service": unit, "userdata/run.sh": ""}, set())
    assert problems == ["userdata/x.service: program `docker` has no ledger row (or allowlist line)"]


def test_script_heredoc_bodies_count_only_when_they_are_scripts():
    script = (
        "cat > /etc/x.repo <<REPO\n[x]\nbaseurl=https://example --notaflag\nREPO\n"
        "cat > /usr/bin/h <<'H'\n#!/bin/bash\naliyun cs GET /k8s/x --header 'a'\nH\n"
        "python3 - <<'PY'\nimport json --nothing\nPY\n"
    )
    commands, flags = script_usage(script)
    assert commands == {"cat", "aliyun", "python3"}
    assert flags == {"--header"}


def test_planted_missing_file_and_test_are_reported(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("def test_there():\n    pass\n")
    (tmp_path / "a.py").write_text("")
    rows = planted(
        "| f | `a.py` | s | verified | `tests/test_a.py::test_there` |",
        "| f | `gone.py` | s | verified | `tests/test_a.py::test_missing` |",
        "| f | `a.py` | s | verified | `tests/test_b.py::test_there` |",
        "| f | `a.py` | s | verified | — |",
        "| f | no file | s | maybe | — (cloud only) |",
    )
    problems = check_references(rows, tmp_path)
    assert problems == [
        'line 4: "where" names gone.py, which does not exist',
        'line 4: "pinned by" names tests/test_a.py::test_missing, which is not defined there',
        'line 5: "pinned by" names tests/test_b.py, which does not exist',
        'line 6: `—` in "pinned by" on a verified row',
        "line 7: status 'maybe' is neither `verified` nor `unverified`",
        "line 7: \"where\" names no repo file in a code span ('no file')",
    ]


def test_planted_property_omission_is_reported():
    plan = [
        {"type": "alicloud:ecs/instance:Instance", "inputs": {"userData": "x", "imageId": "m"}},
        {"type": "alicloud:ecs/ecsDisk:EcsDisk", "inputs": {"size": 1, "category": "c", "tags": {}}},
        {"type": "llm:compute:GpuNode", "inputs": {"anything": 1}},
    ]
    rows = planted(
        "| `alicloud:ecs/instance:Instance.userData` reboots | `a.py` | s | verified | — |",
        "| `alicloud:ecs/ecsDisk:EcsDisk.*`: `size`, `category` | `a.py` | s | verified | — |",
    )
    assert check_properties(rows, [plan]) == [
        "`alicloud:ecs/ecsDisk:EcsDisk.tags` (set by an example plan) has no ledger row",
        "`alicloud:ecs/instance:Instance.imageId` (set by an example plan) has no ledger row",
    ]


def test_a_table_with_another_header_is_reported():
    rows, problems = parse_ledger("| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert rows == [] and problems and "header" in problems[0]
