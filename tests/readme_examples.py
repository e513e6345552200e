"""The README's code examples, read as tests/test_readme_examples.py checks them.

Every fenced block tagged ``python`` or ``bash`` is an example. An HTML comment on the line just
before a block marks it (see the README's Development section):

    <!-- example: parse-only (REASON) -->

A marked block is checked without being run (REASON says why: network, GPU, minutes of work);
every other example runs as written. A fenced block with no language, or another one, is an error
(so no example is skipped by accident), and so is a mark that does not stand before a block or
names another kind than ``parse-only``.

Shell examples are split into simple commands (``&&``, ``;``, ``|``; comments dropped; leading
``VAR=value`` assignments dropped) and each is classified by :func:`command`: a zoo command
(``agdm-zoo CMD``, ``python -m zoo CMD``), a Python file of the checkout (``python scripts/X.py``,
``torchrun ... scripts/X.py``), or one of a few set-up tools (venv, pip, pytest). ``[--flag]``
(optional, usage-style) is read as ``--flag``.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
LANGUAGES = ("python", "bash")
PARSE_ONLY = "parse-only"
FENCE = re.compile(r"^```(\S*)\s*$")
MARK = re.compile(r"^<!--\s*example:\s*(?P<kind>[\w-]+)\s*(?:\((?P<reason>[^)]*)\))?\s*-->\s*$")
PYTHON = re.compile(r"^python(3(\.\d+)?)?$")
OPERATORS = {"&&", "||", ";", "|", "&"}


class ReadmeFormatError(ValueError):
    """A fenced block or an example mark the examples test cannot read."""


@dataclass(frozen=True)
class Example:
    """One fenced code block of the README."""

    line: int              # 1-based line of its opening fence
    language: str          # python or bash
    code: str
    section: str           # the ``## `` heading it is under
    reason: str | None     # why it is parse-only; None: it runs

    @property
    def runs(self) -> bool:
        return self.reason is None

    @property
    def name(self) -> str:
        """A short id for test reports: ``L123-bash``."""
        return f"L{self.line}-{self.language}"


def examples(text: str | None = None) -> list[Example]:
    """Every example of the README (``text``, default the file), in order."""
    lines = (README.read_text() if text is None else text).splitlines()
    found, section, i = [], "", 0
    while i < len(lines):
        if lines[i].startswith("## "):
            section = lines[i][3:].strip()
        opening = FENCE.match(lines[i])
        if opening is None:
            _check_mark_is_followed_by_a_block(lines, i)
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].rstrip() == "```"), None)
        if end is None:
            raise ReadmeFormatError(f"README line {i + 1}: a code block that is never closed")
        if opening.group(1) not in LANGUAGES:
            raise ReadmeFormatError(f"README line {i + 1}: fenced block tagged {opening.group(1)!r}; tag it "
                                    f"{' or '.join(LANGUAGES)} (it is then tested) or indent it as a listing")
        found.append(Example(i + 1, opening.group(1), "\n".join(lines[i + 1:end]) + "\n", section,
                             _reason(lines[i - 1] if i else "", i)))
        i = end + 1
    return found


def _reason(previous: str, fence: int) -> str | None:
    """The parse-only reason of the mark on ``previous`` (the line before the fence), if any."""
    mark = MARK.match(previous)
    if mark is None:
        if "example:" in previous:
            raise ReadmeFormatError(f"README line {fence}: unreadable example mark {previous.strip()!r}")
        return None
    if mark.group("kind") != PARSE_ONLY or not (mark.group("reason") or "").strip():
        raise ReadmeFormatError(f"README line {fence}: write the mark as <!-- example: {PARSE_ONLY} (why) -->, "
                                f"got {previous.strip()!r}")
    return mark.group("reason").strip()


def _check_mark_is_followed_by_a_block(lines: list[str], i: int) -> None:
    if lines[i].startswith("<!--") and "example:" in lines[i]:
        if i + 1 >= len(lines) or FENCE.match(lines[i + 1]) is None:
            raise ReadmeFormatError(f"README line {i + 1}: an example mark must stand on the line just "
                                    "before a code block")


def shell_commands(code: str) -> list[list[str]]:
    """The simple commands of a shell example, each as its words (assignments dropped)."""
    commands = []
    for line in code.replace("\\\n", " ").splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        current: list[str] = []
        for token in [*lexer, ";"]:
            if token in OPERATORS:
                if current:
                    commands.append(current)
                current = []
            elif current or not re.match(r"^[A-Za-z_]\w*=", token):
                current.append(_unbracket(token))
    return commands


def _unbracket(token: str) -> str:
    """``[--private]`` -> ``--private`` (usage-style optional arguments are parsed as given)."""
    return token[1:-1] if token.startswith("[") and token.endswith("]") and len(token) > 2 else token


@dataclass(frozen=True)
class Command:
    """What a shell command runs: ``kind`` is ``zoo`` (``target``: the agdm-zoo command name),
    ``file`` (``target``: a Python file of the checkout) or ``tool`` (venv, pip, pytest, mutmut)."""

    kind: str
    target: str
    argv: tuple[str, ...]


def command(words: list[str]) -> Command:
    """Classify one simple command; anything the test cannot check is a :class:`ReadmeFormatError`."""
    program, rest = Path(words[0]).name, words[1:]
    if program == "nice":  # nice [-n N] COMMAND: the command it runs
        return command(rest[2:] if rest[:1] == ["-n"] else rest)
    if program == "mutmut":
        return Command("tool", "mutmut", tuple(rest))
    if program == "agdm-zoo":
        return Command("zoo", rest[0] if rest else "", tuple(rest[1:]))
    if program == "torchrun":
        script = next((i for i, w in enumerate(rest) if w.endswith(".py")), None)
        if script is None:
            raise ReadmeFormatError(f"torchrun without a script: {shlex.join(words)}")
        return Command("file", rest[script], tuple(rest[script + 1:]))
    if program == "pip":
        return Command("tool", "pip", tuple(rest))
    if PYTHON.match(program) and rest:
        if rest[0].endswith(".py"):
            return Command("file", rest[0], tuple(rest[1:]))
        if rest[0] == "-m" and len(rest) > 1:
            if rest[1] == "zoo":
                return Command("zoo", rest[2] if len(rest) > 2 else "", tuple(rest[3:]))
            if rest[1] in ("venv", "pytest", "pip"):
                return Command("tool", rest[1], tuple(rest[2:]))
    raise ReadmeFormatError(f"a shell command the README examples test does not know how to check: "
                            f"{shlex.join(words)} (teach tests/readme_examples.py, or use agdm-zoo / scripts/*.py)")


def python_imports(code: str) -> str:
    """The import statements of a Python example, in order, as code (to check they resolve)."""
    import ast

    tree = ast.parse(code)
    imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
    return "\n".join(ast.unparse(node) for node in sorted(imports, key=lambda n: (n.lineno, n.col_offset))) + "\n"
