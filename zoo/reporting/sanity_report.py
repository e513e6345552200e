"""The sanity report's files and text: ``sanity_<threat>.json`` (the report, one record per
check) and ``sanity_<threat>.md`` in one folder per defense (default ``leaderboard/sanity/NAME``,
beside the leaderboard tables), read back for model cards, and the section a card includes."""
from __future__ import annotations

import json
from pathlib import Path

from ..common.files import atomic_write_text

PASS, FLAG = "pass", "flag"
STATUSES = (PASS, FLAG)
"""A check's status: passed, or flagged (the gradient attack may be masked)."""

SANITY_FOLDER = "sanity"
"""The folder under the leaderboard that holds one sanity folder per defense."""

CHECK_TEXT = {
    "eps-sweep": "robust accuracy falls to about 0 as eps grows to the whole image cube",
    "square": "the gradient-free Square attack does not beat the gradient attack",
    "transfer": "transfer from the undefended classifier does not beat the gradient attack",
    "more-iterations": "doubling the iterations neither raises nor lowers robust accuracy (converged)",
    "label-aware": "the label-aware loss does not beat the plain loss",
    "finite-differences": "the input gradient matches finite differences in every grad mode",
    "recompute-replay": "recompute's replayed steps reproduce the forward steps exactly",
}
"""What each check asks, as the tables say it."""


def sanity_folder(name: str, leaderboard: str | Path = "leaderboard") -> Path:
    """Where a defense's sanity files go by default: ``<leaderboard>/sanity/<name>``."""
    return Path(leaderboard) / SANITY_FOLDER / name


def write_report(report: dict, out: str | Path) -> dict[str, Path]:
    """Write ``report`` as ``sanity_<threat>.json`` and ``sanity_<threat>.md`` into ``out``
    (atomically); returns both paths by file name."""
    out = Path(out)
    stem = f"sanity_{report['threat']}"
    paths = {f"{stem}.json": out / f"{stem}.json", f"{stem}.md": out / f"{stem}.md"}
    atomic_write_text(paths[f"{stem}.json"], json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(paths[f"{stem}.md"], sanity_markdown(report))
    return paths


def read_reports(folder: str | Path) -> list[dict]:
    """Every ``sanity_<threat>.json`` in ``folder`` (none: ``[]``), sorted by threat; a file
    that is not a sanity report raises a ``ValueError`` naming it."""
    reports = []
    for path in sorted(Path(folder).glob("sanity_*.json")):
        try:
            report = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise ValueError(f"{path}: not a readable sanity report ({err})") from err
        bad = [c for c in report.get("checks", []) if c.get("status") not in STATUSES]
        if "checks" not in report or bad:
            raise ValueError(f"{path}: not a sanity report (needs checks, each with a status in {STATUSES})")
        reports.append(report)
    return reports


def _rows(report: dict) -> list[str]:
    lines = ["| check | what it asks | status | why |", "|---|---|---|---|"]
    for check in report["checks"]:
        status = "**FLAG**" if check["status"] == FLAG else "pass"
        lines.append(f"| {check['name']} | {CHECK_TEXT.get(check['name'], '')} | {status} | {check['why']} |")
    for skip in report.get("skipped", []):
        lines.append(f"| {skip['name']} | {CHECK_TEXT.get(skip['name'], '')} | not applicable | {skip['why']} |")
    return lines


def verdict(report: dict) -> str:
    """One sentence: how many checks flagged, and what a flag means."""
    flagged = [c["name"] for c in report["checks"] if c["status"] == FLAG]
    if not flagged:
        return (f"All {len(report['checks'])} checks pass: no sign of gradient masking at this budget (a pass is "
                "evidence, not proof, that the gradient attack's number is trustworthy).")
    return (f"{len(flagged)} of {len(report['checks'])} checks FLAG ({', '.join(flagged)}): the gradient attack's "
            "robust accuracy is likely an overestimate (masked gradients or an attack that has not converged).")


def sanity_markdown(report: dict) -> str:
    """The report as markdown: the verdict, one line per check, the budget and provenance."""
    prov = report.get("provenance", {})
    lines = [f"# Gradient-masking checks: {report['model']}, {report['threat']} eps={report['eps']:g}", "",
             verdict(report), "", *_rows(report), "",
             f"{report['budget_note']}. Clean accuracy (vote): {100 * report['clean_accuracy_vote']:.1f}%. "
             "\"Beats\" means beyond the 95% paired interval of the difference (Newcombe); robust = right on "
             "clean and adversarial input by the vote over K purifications.", "",
             f"Command: `{prov.get('command')}` at commit `{prov.get('commit')}`, {prov.get('device')}, "
             f"{prov.get('date')}, {prov.get('seconds')} s.", ""]
    return "\n".join(lines)


def card_section(reports: list[dict]) -> str:
    """The model card's section on the sanity checks (``""`` without reports)."""
    if not reports:
        return ""
    lines = ["## Is the number trustworthy? Gradient-masking checks", ""]
    for report in reports:
        prov = report.get("provenance", {})
        lines += [f"### {report['threat']} eps={report['eps']:g}", "", verdict(report), "", *_rows(report), "",
                  f"{report['budget_note']}; made by `agdm-zoo sanity` (`{prov.get('command')}`, commit "
                  f"`{prov.get('commit')}`).", ""]
    return "\n".join(lines)
