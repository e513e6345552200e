"""The leaderboard site, checked the way a person sees it: built from result folders, opened in
headless Chromium from file://, and read back from the DOM the browser built (numbers equal the
summary CSVs', sorting reorders rows, REDUCED budgets are marked). The browser tests are skipped,
with a message, where no Chromium exists; .ci/run installs Debian's."""
from __future__ import annotations

import json
import math
import random
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from zoo.publishing.card import eval_results, model_card, site_cards
from zoo.reporting.browser import dump_dom, find_chromium, page_url, screenshot
from zoo.reporting.files import LeaderboardFileError, latest_results, write_outputs
from zoo.reporting.site import SiteError, build_site, entry_page, metric_columns
from zoo.registry import get_entry, load_registry

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["agdm-tiny-mnist", "diffpure-tiny-mnist", "guided-tiny-mnist", "standard-tiny-mnist"]
ATTACKS = ["pgd-eot", "autoattack-standard", "autoattack-rand"]
needs_chromium = pytest.mark.skipif(find_chromium() is None, reason="no Chromium on this machine (Debian: apt-get "
                                    "install chromium): the site's browser tests are skipped")
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e-?\d+)?")


# ----------------------------------------------------------------------------- reading the DOM
class Rows(HTMLParser):
    """The rows of the site's sortable tables, as the browser left them: per row its attributes,
    badges and cells; per cell its metric spans (text, hidden) and its link."""

    def __init__(self):
        super().__init__()
        self.rows, self.row, self.cell, self.span, self.in_body = [], None, None, None, False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body and "data-model" in a:
            self.row = {"run": a["data-run"], "model": a["data-model"], "eps": float(a["data-eps"]),
                        "class": a.get("class") or "", "badges": [], "cells": {}}
            self.rows.append(self.row)
        elif tag == "td" and self.row is not None:
            self.cell = {"spans": {}, "text": "", "href": None}
            self.row["cells"][a["data-col"]] = self.cell
        elif tag == "a" and self.cell is not None and "num" in (a.get("class") or ""):
            self.cell["href"] = a["href"]
        elif tag == "span" and self.cell is not None:
            classes = (a.get("class") or "").split()
            if "m" in classes:
                self.span = [a["data-metric"], "", "hidden" in a]
            elif "badge" in classes:
                self.span = ["badge", "", False]

    def handle_endtag(self, tag):
        if tag == "span" and self.span is not None:
            name, text, hidden = self.span
            if name == "badge":
                self.row["badges"].append(text.strip())
            else:
                self.cell["spans"][name] = (text.strip(), hidden)
            self.span = None
        elif tag == "td":
            self.cell = None
        elif tag == "tr":
            self.row = None
        elif tag == "tbody":
            self.in_body = False

    def handle_data(self, data):
        if self.span is not None:
            self.span[1] += data
        if self.cell is not None:
            self.cell["text"] += data


def rendered_rows(index: Path, fragment: str = "") -> list[dict]:
    parser = Rows()
    parser.feed(dump_dom(page_url(index, fragment)))
    return parser.rows


def numbers(text: str) -> list[float]:
    return [float(x) for x in NUMBER.findall(text)]


def summaries(leaderboard: Path):
    """(label, summary frame) of every summary CSV, read here with pandas, not through the zoo."""
    for path in sorted(leaderboard.rglob("summary_*.csv")):
        relative = path.parent.relative_to(leaderboard)
        if "site" in relative.parts or "journal" in relative.parts:
            continue
        yield (leaderboard.name if str(relative) == "." else relative.as_posix()), pd.read_csv(path)


def assert_rows_match_csvs(leaderboard: Path, rows: list[dict], shown: str = "robust_acc_vote") -> int:
    """Every (entry, threat, attack) row of every summary CSV is a cell with the same numbers;
    returns how many numbers were compared."""
    by_key = {(r["run"], r["model"], r["eps"]): r for r in rows}
    compared = 0
    for label, frame in summaries(leaderboard):
        bounds = {c for c in frame.columns if c.endswith(("_lo", "_hi"))}
        for record in frame.to_dict("records"):
            row = by_key[(label, record["model"], float(record["eps"]))]
            cell = row["cells"][record["attack"]]
            assert cell["href"].startswith("runs/") and cell["href"].endswith(f"#m-{record['model']}")
            for column, value in record.items():
                if column in ("model", "threat", "eps", "attack") or column in bounds:
                    continue
                text, hidden = cell["spans"][column]
                assert hidden == (column != shown), (label, record["model"], column)
                if isinstance(value, float) and math.isnan(value) or isinstance(value, str):
                    assert text == ("-" if not isinstance(value, str) else value), (label, column, text)
                    continue
                got = numbers(text)
                assert got and got[0] == pytest.approx(float(value), abs=0.005), (label, record, column, text)
                if f"{column}_lo" in bounds:  # the interval is shown with its metric
                    assert got[1:] == pytest.approx([record[f"{column}_lo"], record[f"{column}_hi"]], abs=0.005)
                compared += 1
    return compared


# ----------------------------------------------------------------------------- a made-up leaderboard
def records(rng, models, n=12, k=3):
    out = []
    for model in models:
        labels = [rng.randrange(4) for _ in range(n)]
        for attack in ATTACKS:
            for i in range(n):
                out.append({"model": model, "threat": "Linf", "eps": 0.3, "attack": attack, "index": i,
                            "label": labels[i], "clean_preds": [labels[i] if rng.random() < .9 else 9 for _ in range(k)],
                            "adv_preds": [labels[i] if rng.random() < .4 else 9 for _ in range(k)], "seed": 0})
    return out


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    """Two results folders written by the zoo's own writer from random records: ``full`` (full
    budget, with extra columns as newer summaries have: an interval, a worst-of-K metric, a text
    column, and a paired comparison) and ``small`` (REDUCED budget)."""
    root = tmp_path_factory.mktemp("leaderboard")
    registry = load_registry()
    rng = random.Random(3)
    for folder, reduced in (("full", False), ("small", True)):
        provenance = {"command": f"python scripts/benchmark.py --out {folder}", "commit": f"commit-{folder}",
                      "date": "2026-01-01T00:00:00+00:00", "device": "test CPU", "seed": 0,
                      "reduced_budget": reduced, "budget": "tiny" if reduced else "the published protocol"}
        write_outputs(root / folder, records(rng, MODELS), provenance, {m: registry[m] for m in MODELS})
    path = root / "full" / "summary_Linf.csv"
    summary = pd.read_csv(path)
    summary["robust_acc_vote_lo"] = (summary["robust_acc_vote"] - 7.5).clip(lower=0)
    summary["robust_acc_vote_hi"] = (summary["robust_acc_vote"] + 7.5).clip(upper=100)
    summary["robust_acc_worst"] = summary["robust_acc_mean"] / 2
    summary["protocol"] = "final"
    summary.to_csv(path, index=False)
    pd.DataFrame({"a": ["agdm-tiny-mnist"], "b": ["diffpure-tiny-mnist"], "attack": ["pgd-eot"],
                  "difference": [4.17], "p_value": [0.0312]}).to_csv(root / "full" / "comparison_Linf.csv", index=False)
    return root


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ----------------------------------------------------------------------------- in the browser
@needs_chromium
def test_committed_results_appear_in_the_browser_with_the_csvs_numbers(tmp_path):
    leaderboard = ROOT / "leaderboard"
    built = build_site(leaderboard, tmp_path / "site", card=site_cards(leaderboard))
    rows = rendered_rows(built.out_dir / "index.html")
    # every number column but the interval bounds (shown inside their metric's cell)
    expected = sum(len(frame) * (len(frame.columns) - 4 - sum(c.endswith(("_lo", "_hi")) for c in frame.columns))
                   for _, frame in summaries(leaderboard))
    assert assert_rows_match_csvs(leaderboard, rows) == expected > 0
    for row in rows:  # marked REDUCED exactly where the run's provenance says so
        folder = leaderboard if row["run"] == leaderboard.name else leaderboard / row["run"]
        reduced = json.loads((folder / "provenance_Linf.json").read_text())["reduced_budget"]
        assert ("REDUCED" in row["badges"]) == reduced == ("reduced" in row["class"]), row["run"]


@needs_chromium
def test_extra_columns_intervals_and_budgets_are_rendered(board, tmp_path):
    built = build_site(board, tmp_path / "site")
    rows = rendered_rows(built.out_dir / "index.html")
    assert assert_rows_match_csvs(board, rows) > 0
    assert len(rows) == 2 * len(MODELS)
    for row in rows:
        reduced = row["run"] == "small"
        assert ("REDUCED" in row["badges"]) == reduced and ("reduced" in row["class"]) == reduced
        assert ("full budget" in row["badges"]) == (not reduced)
    page = (built.out_dir / "runs" / "full_Linf.html").read_text()
    assert "commit-full" in page and "python scripts/benchmark.py --out full" in page and "test CPU" in page
    index = (built.out_dir / "index.html").read_text()
    assert "Paired comparisons" in index and "0.0312" in index


@needs_chromium
def test_sorting_a_column_reorders_the_rows(board, tmp_path):
    built = build_site(board, tmp_path / "site")
    index = built.out_dir / "index.html"

    def column(rows, attack, metric):
        return [numbers(r["cells"][attack]["spans"][metric][0])[0] for r in rows]

    default = rendered_rows(index)
    before = column(default, "pgd-eot", "robust_acc_vote")
    assert before != sorted(before)  # the made-up data are not already in order
    up = rendered_rows(index, "sort=pgd-eot&dir=asc")
    down = rendered_rows(index, "sort=pgd-eot&dir=desc")
    assert column(up, "pgd-eot", "robust_acc_vote") == sorted(before)
    assert column(down, "pgd-eot", "robust_acc_vote") == sorted(before, reverse=True)
    assert sorted((r["run"], r["model"]) for r in up) == sorted((r["run"], r["model"]) for r in default)
    # another metric on demand: shown, and the sort follows it
    mean = rendered_rows(index, "metric=robust_acc_mean&sort=autoattack-rand&dir=asc")
    assert all(not r["cells"]["pgd-eot"]["spans"]["robust_acc_mean"][1] for r in mean)
    assert all(r["cells"]["pgd-eot"]["spans"]["robust_acc_vote"][1] for r in mean)
    values = column(mean, "autoattack-rand", "robust_acc_mean")
    assert values == sorted(values) and values != column(default, "autoattack-rand", "robust_acc_mean")
    by_name = rendered_rows(index, "sort=entry&dir=asc")
    assert [r["model"] for r in by_name] == sorted(r["model"] for r in default)


@needs_chromium
def test_screenshot_of_the_site(board, tmp_path):
    built = build_site(board, tmp_path / "site")
    shot = screenshot(page_url(built.out_dir / "index.html"), tmp_path / "index.png", width=1200, height=800)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert int.from_bytes(data[16:20], "big") == 1200 and int.from_bytes(data[20:24], "big") == 800


# ----------------------------------------------------------------------------- building
def test_an_empty_leaderboard_builds_a_site_that_says_so(tmp_path):
    (tmp_path / "leaderboard").mkdir()
    built = build_site(tmp_path / "leaderboard", tmp_path / "site")
    assert built.empty and "no results under" in built.message and "scripts/benchmark.py" in built.message
    assert "no results under" in (tmp_path / "site" / "index.html").read_text()
    with pytest.raises(FileNotFoundError, match="no leaderboard folder"):
        build_site(tmp_path / "missing", tmp_path / "site2")


@pytest.mark.parametrize("damage", ["ragged", "not a number", "no attack column"])
def test_a_malformed_csv_is_named_and_nothing_is_overwritten(board, tmp_path, damage):
    leaderboard = tmp_path / "leaderboard"
    shutil.copytree(board, leaderboard)
    out = tmp_path / "site"
    build_site(leaderboard, out)
    before = snapshot(out)
    bad = leaderboard / "small" / "summary_Linf.csv"
    lines = bad.read_text().splitlines()
    if damage == "ragged":
        lines.append(lines[-1] + ",1,2")
    elif damage == "not a number":
        lines[1] = lines[1].replace(",0.3,", ",0.3x,", 1)
    else:
        frame = pd.read_csv(bad).drop(columns=["attack"])
        lines = frame.to_csv(index=False).splitlines()
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(LeaderboardFileError, match=re.escape(str(bad))):
        build_site(leaderboard, out)
    assert snapshot(out) == before


def test_builds_repeat_byte_for_byte_and_drop_stale_pages(board, tmp_path):
    first, second = build_site(board, tmp_path / "a"), build_site(board, tmp_path / "b")
    assert snapshot(first.out_dir) == snapshot(second.out_dir)
    leaderboard = tmp_path / "leaderboard"
    shutil.copytree(board, leaderboard)
    build_site(leaderboard, tmp_path / "c")
    assert (tmp_path / "c" / entry_page("guided-tiny-mnist")).is_file()
    for folder in ("full", "small"):
        path = leaderboard / folder / "summary_Linf.csv"
        frame = pd.read_csv(path)
        frame[frame["model"] != "guided-tiny-mnist"].to_csv(path, index=False)
    build_site(leaderboard, tmp_path / "c")
    assert not (tmp_path / "c" / entry_page("guided-tiny-mnist")).exists()
    assert (tmp_path / "c" / entry_page("agdm-tiny-mnist")).is_file()


def test_a_folder_that_is_not_a_site_is_refused(board, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "index.html").write_text("my own page")
    with pytest.raises(SiteError, match="not a built site"):
        build_site(board, tmp_path / "mine")
    assert (tmp_path / "mine" / "index.html").read_text() == "my own page"


def test_generic_columns_find_metrics_and_intervals():
    frame = pd.DataFrame(columns=["model", "threat", "eps", "attack", "n", "robust_acc_vote", "robust_acc_vote_lo",
                                  "robust_acc_vote_hi", "clean_acc_worst", "clean_acc_worst_ci_low",
                                  "clean_acc_worst_ci_high", "orphan_lo", "p_value"])
    metrics, intervals = metric_columns(frame)
    assert metrics == ["n", "robust_acc_vote", "clean_acc_worst", "orphan_lo", "p_value"]
    assert intervals == {"robust_acc_vote": ("robust_acc_vote_lo", "robust_acc_vote_hi"),
                         "clean_acc_worst": ("clean_acc_worst_ci_low", "clean_acc_worst_ci_high")}


def test_entry_pages_carry_the_model_card_and_its_numbers(tmp_path):
    leaderboard = ROOT / "leaderboard"
    built = build_site(leaderboard, tmp_path / "site", card=site_cards(leaderboard))
    page = (built.out_dir / entry_page("agdm-tiny-mnist")).read_text()
    assert "Model card" in page and "Purified images" in page and "lambda_sweep.png" in page
    assert (built.out_dir / "assets" / "figures" / "figures__agdm-tiny-mnist_Linf.png").is_file()
    entry = get_entry("agdm-tiny-mnist")
    for result in eval_results(entry, latest_results(entry.name, leaderboard)):
        assert f"{result.metric_value:.2f}" in page
    assert "Not an entry of the zoo's registry" in (built.out_dir / entry_page("agdm-tiny-mnist-lam6")).read_text()


def test_the_committed_site_is_the_build_of_the_committed_results(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    built = build_site(Path("leaderboard"), tmp_path / "site", card=site_cards(Path("leaderboard")))
    committed = ROOT / "leaderboard" / "site"
    fresh = snapshot(built.out_dir)
    stale = sorted(name for name, data in fresh.items() if (committed / name).read_bytes() != data) \
        if all((committed / n).is_file() for n in fresh) else ["missing files"]
    assert not stale, f"leaderboard/site is stale ({stale[:5]}): rebuild it with python scripts/site.py --screenshot"


def test_the_model_card_links_the_entry_page_and_carries_the_sites_numbers(tmp_path):
    leaderboard = ROOT / "leaderboard"
    entry = get_entry("guided-tiny-mnist")
    results = latest_results(entry.name, leaderboard)
    card = model_card(entry, results, "someone/guided", site_url="https://example.org/zoo")
    assert "https://example.org/zoo/entries/guided-tiny-mnist.html" in card.text
    assert "leaderboard/site/entries/guided-tiny-mnist.html" in model_card(entry, results, "someone/guided").text
    built = build_site(leaderboard, tmp_path / "site")
    (latest,) = results
    label = latest.path.parent.relative_to(leaderboard).as_posix()
    page = (built.out_dir / "runs" / f"{label if label != '.' else 'leaderboard'}_Linf.html").read_text()
    section = page.split('id="m-guided-tiny-mnist"', 1)[1].split("</section>", 1)[0]
    section = section.split("</table>", 1)[0]  # the summary table (an N-ablation table may follow)
    header = re.findall(r"<th>(.*?)</th>", section)
    rows = [dict(zip(header, re.findall(r"<td>(.*?)</td>", tr))) for tr in re.findall(r"<tr><td>.*?</tr>", section)]
    shown = {f"robust accuracy, {r['attack']}, Linf eps={float(r['eps']):g}": float(r["robust_acc_vote"]) for r in rows}
    shown["clean accuracy (Linf run)"] = next(float(r["clean_acc_vote"]) for r in rows if r["attack"] == "worst-case")
    got = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert got == pytest.approx(shown, abs=0.005) and len(got) == len(rows) + 1  # each row, and the clean one


def test_the_command_line_reports_empty_and_malformed_leaderboards(board, tmp_path, capsys):
    from helpers import CommandLine

    cli = CommandLine("site")  # as scripts/site.py and agdm-zoo site run it

    (tmp_path / "empty").mkdir()
    assert cli.main(["--leaderboard", str(tmp_path / "empty"), "--out", str(tmp_path / "s1")]) == 0
    assert "no results under" in capsys.readouterr().out
    leaderboard = tmp_path / "leaderboard"
    shutil.copytree(board, leaderboard)
    (leaderboard / "full" / "provenance_Linf.json").write_text("{not json")
    assert cli.main(["--leaderboard", str(leaderboard), "--out", str(tmp_path / "s2")]) == 2
    assert str(leaderboard / "full" / "provenance_Linf.json") in capsys.readouterr().err
    assert not (tmp_path / "s2").exists()
