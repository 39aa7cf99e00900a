"""Every `tinct` command and flag that README.md and docs/ show exists (issue 20): the docs stay true."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import typer

from tinct.cli import app

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(text: str) -> list[str]:
    """The `tinct ...` command lines of a Markdown text: in code blocks, indented blocks and `inline code`."""
    found = []
    for line in text.splitlines():
        s = line.strip().removeprefix("$ ")
        if s.startswith("tinct ") and (line.startswith("    ") or "`" not in s):
            found.append(s)
    found += re.findall(r"`(tinct [^`]+)`", text)
    return found


def _shown() -> list[tuple[str, str]]:
    return [(doc.name, cmd) for doc in DOCS for cmd in _commands(doc.read_text())]


def test_the_docs_show_commands():
    assert len(_shown()) > 30  # the parser finds them: a test over nothing cannot fail


@pytest.mark.parametrize("doc,line", _shown())
def test_every_documented_command_and_flag_exists(doc, line):
    group = typer.main.get_command(app)
    words = shlex.split(line.split("#", 1)[0].replace("|", " "), posix=True)[1:]
    if not words or words[0].startswith("-"):  # `tinct --version`, `tinct --help`
        assert all(w in ("--version", "--help") for w in words if w.startswith("-")), line
        return
    command = group.commands.get(words[0])
    assert command is not None, f"{doc}: `{line}`: no command {words[0]!r}"
    known = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    for w in words[1:]:
        flag = w.split("=", 1)[0]
        if re.fullmatch(r"--?[A-Za-z][\w-]*", flag):
            assert flag in known, f"{doc}: `{line}`: {words[0]} has no option {flag}"


def test_every_flag_named_in_the_docs_exists():
    """A `--flag` in backticks anywhere in the docs is an option of a tinct command, or of one of the
    repository's scripts (benchmarks/, scripts/) that the text is about."""
    group = typer.main.get_command(app)
    known = {o for c in group.commands.values() for p in c.params for o in (*p.opts, *p.secondary_opts)}
    scripts = " ".join(p.read_text() for d in ("benchmarks", "scripts") for p in (ROOT / d).rglob("*.py"))
    missing = [
        (doc.name, flag)
        for doc in DOCS
        for flag in re.findall(r"`(--[a-z][\w-]*)", doc.read_text())
        if flag not in known and f'"{flag}"' not in scripts
    ]
    assert missing == []
