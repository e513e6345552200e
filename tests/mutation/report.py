"""Write tests/mutation/REPORT.md from mutmut's cached results (run from the repository root after
``mutmut run``): the score per configured module, and every surviving mutant with its change and
its disposition (the test that now kills it, or why it cannot be killed). Not a test module.

Dispositions come from ``DISPOSITIONS`` below: a mutant name (or fnmatch pattern) -> reason, for
mutants judged one by one, and ``KINDS``: a pattern on the mutated line -> reason, for whole classes
of mutants whose reason is the same (an error message's wording, a progress bar's text). A survivor
matched by neither is listed as UNEXPLAINED: the report's target is that there is none.

    python tests/mutation/report.py --commit <hash> --date <date> --command "<mutmut command>"
"""
from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import re
import sys
import tomllib
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dispositions import DISPOSITIONS, KINDS, NOT_RUN, PREAMBLE, RULES_TESTS  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
STATUS_HINT = "mutmut.stats.status_by_exit_code"  # exit code -> status, mutmut's own table


FIRST = Path(__file__).resolve().parent / "first_run_survivors.txt"


NO_TESTS = FIRST.with_name("first_run_no_tests.txt")


def first_survivors() -> set[str]:
    """Mutants that survived a first run, before the tests in tests/rules/ written for them."""
    return set(FIRST.read_text().split()) if FIRST.exists() else set()


def first_untested() -> set[str]:
    """Mutants of functions no test of the selection called in the first run (tests/rules/ calls them now)."""
    return set(NO_TESTS.read_text().split()) if NO_TESTS.exists() else set()


def results() -> dict[str, dict[str, int | None]]:
    """Per mutated file, each mutant's exit code (None: not run), from the .meta files."""
    out = {}
    for meta in sorted((ROOT / "mutants").rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        out[str(meta.relative_to(ROOT / "mutants"))[:-5]] = data["exit_code_by_key"]
    return out


def _block(lines: list[str], head: str) -> list[str]:
    """The lines of the function whose ``def`` line starts with ``head`` (after indentation)."""
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(head))
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or len(lines[end]) - len(lines[end].lstrip()) > indent):
        end += 1
    return lines[start:end]


def diff(name: str, path: str) -> str:
    """The mutated line(s): mutmut keeps each mutant beside the original function in mutants/."""
    lines = (ROOT / "mutants" / path).read_text().splitlines()
    local = name.rsplit(".", 1)[1]
    function = local.rsplit("__mutmut_", 1)[0]
    original, mutant = _block(lines, f"def {function}__mutmut_orig("), _block(lines, f"def {local}(")
    # the def lines differ by name only, unless the mutant changed the signature (a default value)
    original[0], mutant[0] = (line.replace(name_, f"def {function}", 1) for line, name_ in
                              ((original[0], f"def {function}__mutmut_orig"), (mutant[0], f"def {local}")))
    changed = difflib.unified_diff(original, mutant, n=0, lineterm="")
    return "\n".join(line for line in changed if line[:1] in "+-" and line[:3] not in ("+++", "---"))


def disposition(name: str, change: str) -> str:
    for pattern, reason in DISPOSITIONS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return reason
    for pattern, reason in KINDS.items():
        if re.search(pattern, change, re.M):
            return reason
    return "UNEXPLAINED"


def status_of(code) -> str:
    from mutmut.stats import status_by_exit_code

    return "not run" if code is None else status_by_exit_code[code]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshot", action="store_true", help="only add today's survivors to FIRST and the "
                        "mutants without tests to NO_TESTS (before a rerun of them with new tests)")
    parser.add_argument("--commit")
    parser.add_argument("--date")
    parser.add_argument("--command")
    parser.add_argument("--timing", default="")
    args = parser.parse_args()
    if args.snapshot:
        codes = {n: c for by_name in results().values() for n, c in by_name.items()}
        survived = {n for n, c in codes.items() if c == 0}
        untested = {n for n, c in codes.items() if c == 33}
        FIRST.write_text("".join(f"{n}\n" for n in sorted(survived | first_survivors())))
        NO_TESTS.write_text("".join(f"{n}\n" for n in sorted(untested | first_untested())))
        return
    first, untested = first_survivors(), first_untested()
    configured = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mutmut"]["only_mutate"]
    by_file = results()
    rows, survivors = [], defaultdict(list)
    for path in configured:
        codes = by_file.get(path, {})
        counts = Counter(status_of(c) for c in codes.values())
        run = sum(v for k, v in counts.items() if k not in ("not run", "not checked", "no tests", "skipped"))
        killed = sum(counts[k] for k in ("killed", "timeout", "segfault", "caught by type check"))
        explained = 0
        for name, code in sorted(codes.items(), key=lambda kv: (kv[0].rsplit("__mutmut_", 1)[0],
                                                                  int(kv[0].rsplit("_", 1)[1]))):
            if code not in (0, None, 33) and (name in first or name in untested):
                was = "survived" if name in first else "had no test"
                survivors[path].append((name, diff(name, path), f"{was} in the first run; KILLED on rerun by "
                                        + RULES_TESTS.get(path, "tests/rules/")))
            if code == 0:
                change = diff(name, path)
                reason = disposition(name, change)
                explained += reason != "UNEXPLAINED"
                survivors[path].append((name, change, reason))
        score = f"{100 * killed / run:.1f}%" if run else "-"
        note = NOT_RUN.get(path, "")
        rows.append(f"| `{path}` | {len(codes)} | {run} | {killed} | {counts['survived']} | {explained} | "
                    f"{counts['no tests']} | {counts['not run'] + counts['not checked']} | {score} | {note} |")
    out = [
        "# Mutation testing report",
        "",
        f"Written by `python tests/mutation/report.py` from mutmut's results. Commit `{args.commit}`, {args.date}.",
        "",
        f"Command: `{args.command}`" + (f" ({args.timing})" if args.timing else ""),
        "",
        PREAMBLE,
        "",
        "Score = killed (a test failed, or the mutant hung past mutmut's timeout) / mutants run. "
        "*No tests*: the mutated function is called by no test of the selection (see the note). "
        "*Explained*: survivors with a disposition below (why they cannot be or were not killed). Mutants "
        "that survived the first run and were killed when rerun with the tests written for them "
        "(tests/rules/) are listed too, as KILLED on rerun.",
        "",
        "| module | mutants | run | killed | survived | explained | no tests | not run | score | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        "## Surviving mutants (and first-run survivors killed since)",
        "",
        "Mutant names are `module.x_function__mutmut_N` (methods: `module.xǁClassǁmethod__mutmut_N`); "
        "`mutmut show <name>` prints one.",
    ]
    for path, items in survivors.items():
        out += ["", f"### `{path}`", ""]
        for name, change, reason in items:
            lines = [line.strip() for line in change.splitlines()]
            shown = " / ".join(f"`{line[:1]} {line[1:].strip()[:110]}`" for line in lines)
            out.append(f"- `{name}`: {shown} -- {reason}")
    (ROOT / "tests" / "mutation" / "REPORT.md").write_text("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
