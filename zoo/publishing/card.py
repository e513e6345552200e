"""Model cards of published entries: the entry's newest leaderboard results as the card's
``model-index``, with what the defense is, how to load it, its limits and the citation.

Each run's numbers are shown by the metric the run chose as its headline (its provenance's
``headline``; the vote for runs recorded before that field), named as :mod:`zoo.scoring.verdicts`
names it, so a card says what its run's tables say.
"""
from __future__ import annotations

from typing import Callable

from ..reporting.files import Results, latest_results
from ..reporting.paper import CITATION, PAPER
from ..reporting.sanity_report import card_section, read_reports, sanity_folder
from ..reporting.site import entry_page
from ..reporting.tables import budget_of, gradient_line
from ..registry import get_entry
from ..registry.bundles import FILES
from ..registry.schema import Entry, UnknownEntryError
from ..registry.sources import local_path
from ..scoring.verdicts import NAMES, headline_of

# where the leaderboard site lives (scripts/site.py builds it there); publish --site-url overrides
SITE = "leaderboard/site"


class PublishError(RuntimeError):
    """An entry that must not be published as asked: no results, or a different existing repo."""


def eval_results(entry: Entry, results: list[Results]) -> list:
    """``model-index`` results: clean and robust accuracy per attack and threat by each run's
    headline metric, each with the metric's name and the attack settings that produced it."""
    from huggingface_hub import EvalResult

    out = []
    for result in results:
        headline = headline_of(result.provenance)
        for row in result.rows.itertuples():
            clean, robust = getattr(row, f"clean_acc_{headline}"), getattr(row, f"robust_acc_{headline}")
            args = {"threat": result.threat, "eps": float(row.eps), "attack": row.attack, "n_examples": int(row.n),
                    "purifications_per_example": int(row.k), "headline": NAMES[headline],
                    "budget": budget_of(result.provenance, entry.name),
                    "reduced_budget": bool(result.provenance.get("reduced_budget")),
                    "command": result.provenance.get("command"), "commit": result.provenance.get("commit")}
            common = dict(task_type="image-classification", task_name="Adversarially robust image classification",
                          dataset_type=entry.dataset, dataset_name=entry.dataset.upper(), dataset_split="test",
                          metric_type="accuracy", metric_args=args)
            if row.attack == "worst-case":
                out.append(EvalResult(metric_name=f"clean accuracy ({result.threat} run)",
                                      metric_value=float(clean), **common))
            out.append(EvalResult(metric_name=f"robust accuracy, {row.attack}, {result.threat} eps={row.eps:g}",
                                  metric_value=float(robust), **common))
    return out


def site_link(name: str, site_url: str = SITE) -> str:
    """The entry's page on the leaderboard site, as a markdown line (a link for a URL or a
    relative path; for the default, the path in the agdm-zoo repository)."""
    page = f"{site_url.rstrip('/')}/{entry_page(name)}"
    where = " in the agdm-zoo repository" if site_url == SITE else ""
    return f"Leaderboard page (every run of this entry, with provenance): [{page}]({page}){where}."


def sanity_reports(name: str, leaderboard="leaderboard") -> list[dict]:
    """The entry's gradient-masking reports (``agdm-zoo sanity``) under ``leaderboard``, if any."""
    return read_reports(sanity_folder(name, leaderboard))


def model_card(entry: Entry, results: list[Results], repo_id: str, revision: str = "main",
               training: dict[str, str] | None = None, site_url: str = SITE, sanity: list[dict] | None = None):
    """The model card (``huggingface_hub.ModelCard``) of a bundle of ``entry``; it links the
    entry's page on the leaderboard site (``site_url``) and carries the same numbers, and the
    gradient-masking checks' section when ``sanity`` reports are given (:func:`sanity_reports`)."""
    from huggingface_hub import ModelCard, ModelCardData

    if not results:
        raise PublishError(f"no benchmark results for {entry.name}: run scripts/benchmark.py --model {entry.name} "
                           "first; a defense is published only with its results")
    data = ModelCardData(library_name="agdm-zoo", model_name=entry.name, datasets=[entry.dataset],
                         metrics=["accuracy"], tags=["adversarial-robustness", "diffusion-purification", "agdm",
                                                     "robustbench"],
                         eval_results=eval_results(entry, results))
    body = _card_body(entry, results, repo_id, revision, training or {}, site_url, sanity or [])
    return ModelCard("---\n" + data.to_yaml() + "\n---\n\n" + body)


def site_cards(leaderboard="leaderboard", site_url: str = "..") -> Callable[[str], str | None]:
    """The ``card`` renderer of :func:`zoo.reporting.site.build_site`: an entry's model card
    text (markdown, without the Hub metadata) from its newest results, ``None`` for a name that
    is not a registry entry or has no results. ``site_url`` is the site root seen from an entry
    page."""
    def card(name: str) -> str | None:
        try:
            entry = get_entry(name)
        except UnknownEntryError:
            return None
        results = latest_results(name, leaderboard)
        return _card_body(entry, results, None, "main", {}, site_url, sanity_reports(name, leaderboard)) \
            if results else None

    return card


def _card_body(entry: Entry, results: list[Results], repo_id: str | None, revision: str,
               training: dict[str, str], site_url: str = SITE, sanity: list[dict] | tuple = ()) -> str:
    p = entry.purification
    what = ("a plain classifier (no purification)" if p is None else
            f"DDPM purification to t* = {p.t_star} ({p.num_steps} reverse steps) with guidance pattern "
            f"`{p.pattern}` (scale s = {p.scale}, D = {p.distance}), then a classifier")
    source = entry.name if repo_id is None else f"hf://{repo_id}@{revision}"
    lines = [f"# {entry.name}", "", entry.description, "",
             f"An agdm-zoo entry: {what}. Method: AGDM, {PAPER['name']} ({PAPER['link']}).", "",
             site_link(entry.name, site_url),
             "", "## Load it", "", "```python", "import zoo",
             f'model = zoo.load("{source}")   # torch.nn.Module: pixels in [0, 1], NCHW -> logits',
             "```", "",
             "Attacks must differentiate through the whole reverse chain and the guidance terms: the module does "
             "that by default (`grad_mode=\"checkpoint\"` for less memory).", "",
             "## Results", "",
             "Accuracy over K independent purifications per example by each run's headline metric (robust only "
             "if also correct on the clean input), produced by `scripts/benchmark.py` of agdm-zoo:", ""]
    for result in results:
        lines += _results_section(entry, result)
        lines += ["", f"Command: `{result.provenance.get('command')}` at commit `{result.provenance.get('commit')}`, "
                      f"{result.provenance.get('device')}, {result.provenance.get('date')}.", ""]
    if sanity:
        lines += [card_section(list(sanity))]
    lines += ["## Components and training", ""]
    for role in FILES:
        component = getattr(entry, role)
        if component is not None:
            lines.append(f"- {role}: `{component.arch}` from `{component.source}`"
                         + (f"; trained with {training[role]}" if role in training else ""))
    lines += ["", "## Intended use and limits", "",
              "For research on adversarial robustness: evaluating and comparing purification defenses. "
              "Robust accuracy holds only for the threat model, eps and attacks listed above, and a REDUCED "
              "budget is weaker than the published protocol. Purification is stochastic: judge it over many "
              "draws, never one forward pass. Not a safety guarantee for deployed systems.", "",
              "## Citation", "", "```bibtex", CITATION, "```", ""]
    return "\n".join(lines)


def _results_section(entry: Entry, result: Results) -> list[str]:
    """One run's table of the card: every attack's clean and robust accuracy by the run's headline."""
    headline = headline_of(result.provenance)
    reduced = "REDUCED budget" if result.provenance.get("reduced_budget") else "full budget"
    gradient = gradient_line(result.provenance, entry.name)  # the ablation warning, where it applies
    k = int(result.rows["k"].iloc[0])
    lines = [f"### {result.threat} ({reduced}: {budget_of(result.provenance, entry.name)})", "",
             *([gradient, ""] if gradient else []),
             f"Accuracy in %, {NAMES[headline]} over K={k} purifications.", "",
             "| attack | eps | n | clean acc | robust acc |", "|---|---|---|---|---|"]
    lines += [f"| {r.attack} | {r.eps:g} | {int(r.n)} | {getattr(r, f'clean_acc_{headline}'):.2f} | "
              f"{getattr(r, f'robust_acc_{headline}'):.2f} |" for r in result.rows.itertuples()]
    return lines


def training_notes(entry: Entry) -> dict[str, str]:
    """How each shipped network was trained, from the settings line of its training log."""
    notes = {}
    for role in FILES:
        component = getattr(entry, role)
        path = local_path(component.source) if component is not None else None
        if path is None:
            continue
        log = path / "train_log.csv" if path.is_dir() else path.with_suffix(".log.csv")
        if log.is_file():
            first = log.read_text().splitlines()[0]
            notes[role] = (f"settings {first.lstrip('# ')}" if first.startswith("#")
                           else f"a logged run ({log.name}, columns {first})")
    return notes
