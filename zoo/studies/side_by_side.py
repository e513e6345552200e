"""A paper table reproduced: our numbers, each with its 95% interval, beside the paper's.

Every number column of the paper becomes two columns: ``<title>: ours`` (the zoo's benchmark of
the row's entry, headline metric with its interval, from the run's ``summary_<threat>.csv``) and
``<title>: paper (Lin et al.)`` (the number the paper prints, from
:mod:`zoo.studies.paper_tables`). The two never mix: a cell we have no result for reads ``not
run`` (or why it cannot be run), never the paper's number, and a paper cell is only ever the
paper's transcribed number (``-`` where it prints none, ``not in the paper`` for a row it lacks).
"""
from __future__ import annotations

from typing import Mapping

from ..reporting.files import Run
from ..reporting.tables import METRIC_TEXT, budget_of, check_headline, interval_cell
from .paper_tables import Column, PaperTable, Row

PAPER_LABEL = "paper (Lin et al.)"
OURS_LABEL = "ours"
NOT_RUN = "not run"
NOT_IN_PAPER = "not in the paper"


def has_paper_column(table: PaperTable, column: Column) -> bool:
    """Whether the paper reports this column for any row (the demo's extra attacks it does not)."""
    return any(column.key in row.paper for row in table.rows)


def our_cell(row: Row, column: Column, runs: Mapping[str, Run], headline: str, gaps: Mapping[str, str]) -> str:
    """The zoo's number for one cell, ``value [low, high]``, or why there is none."""
    if column.key in gaps:
        return "gap"
    entry = row.entries.get(column.dataset)
    run = runs.get(column.threat)
    if entry is None:
        return "-"
    if run is None:
        return NOT_RUN
    found = run.summary[(run.summary["model"].astype(str) == entry) & (run.summary["attack"].astype(str) == column.attack)]
    if found.empty:
        return NOT_RUN
    return interval_cell(found.iloc[0].to_dict(), f"{column.metric}_acc_{headline}")


def paper_cell(row: Row, column: Column) -> str:
    """The paper's number for one cell, as printed."""
    return row.paper.get(column.key, NOT_IN_PAPER)


def _run_lines(table: PaperTable, runs: Mapping[str, Run]) -> list[str]:
    lines = []
    for threat in dict.fromkeys(c.threat for c in table.columns):
        run = runs.get(threat)
        if run is None:
            continue
        prov = run.provenance
        reduced = "**REDUCED budget: not the paper's protocol**" if prov.get("reduced_budget") else "full protocol"
        n = ", ".join(str(int(v)) for v in sorted(set(run.summary["n"]))) if "n" in run.summary else "?"
        k = ", ".join(str(int(v)) for v in sorted(set(run.summary["k"]))) if "k" in run.summary else "?"
        lines.append(f"- {threat}: n = {n} test examples, K = {k} purifications each; {reduced}; budget: "
                     f"{budget_of(prov)}; overrides: {prov.get('protocol_overrides') or 'none'}; commit "
                     f"`{prov.get('commit', 'not recorded')}`, {prov.get('device', 'device not recorded')}, "
                     f"{prov.get('date', 'date not recorded')} (`{run.folder}`)")
    return lines


def side_by_side(table: PaperTable, runs: Mapping[str, Run], headline: str = "vote",
                 gaps: Mapping[str, str] | None = None) -> str:
    """The markdown of ``table`` with our results (``runs``: threat -> the :class:`Run` of this
    table's benchmark under that threat; missing threats read ``not run``) beside the paper's.
    ``gaps``: column key -> why the zoo cannot run that column (shown as ``gap``, explained below)."""
    check_headline(headline)
    gaps = dict(gaps or {})
    title = f"Table {table.key}" if table.key != "demo" else "The demo table"
    header, rule = ["paper's row", "zoo entry"], ["---", "---"]
    for column in table.columns:
        header.append(f"{column.title}: {OURS_LABEL}")
        if has_paper_column(table, column):
            header.append(f"{column.title}: {PAPER_LABEL}")
    rule += ["---:"] * (len(header) - 2)
    body = []
    for row in table.rows:
        cells = [row.label, ", ".join(f"`{e}`" for e in dict.fromkeys(row.entries.values()))]
        for column in table.columns:
            cells.append(our_cell(row, column, runs, headline, gaps))
            if has_paper_column(table, column):
                cells.append(paper_cell(row, column))
        body.append(cells)
    t_star = f"t* = {table.t_star} for every purifying entry" if table.t_star else "each entry's own t*"
    lines = [f"# {title} reproduced: {table.title} ({table.classifier})", "",
             f"**{OURS_LABEL}**: agdm-zoo's benchmark of the zoo entry standing for each row, in %, headline "
             f"metric **{headline}** ({METRIC_TEXT[headline]}), 95% Wilson interval over the n examples in "
             f"brackets. **{PAPER_LABEL}**: the number the paper prints, transcribed, never computed here"
             + (f" ({table.source})" if table.source else "") + f". A cell without our result reads `{NOT_RUN}`, "
             "never the paper's number.", "",
             f"Protocol: {t_star}; attacks: " + ", ".join(dict.fromkeys(c.attack for c in table.columns)) + ".", "",
             "| " + " | ".join(header) + " |", "|" + "|".join(rule) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    notes = [f"- {row.label}: {row.note}" for row in table.rows if row.note]
    notes += [f"- gap, {key}: {why}" for key, why in gaps.items()]
    notes += [f"- not reproduced (no zoo entry): {other}" for other in table.other_rows]
    if notes:
        lines += ["", "Rows and gaps:", "", *notes]
    run_lines = _run_lines(table, runs)
    lines += ["", "Our runs:", "", *(run_lines or ["- none yet"])]
    return "\n".join(lines) + "\n"

