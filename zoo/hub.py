"""Publishing entries on the Hugging Face Hub: the latest leaderboard results of an entry, a model
card whose ``model-index`` carries them, and the upload (``scripts/publish.py`` wraps this).

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, a prior ``hf auth login``); this
module never reads, prints or writes them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from .bundle import CONFIG, FILES
from .registry import Entry
from .results import PAPER, budget_of

CITATION = """@article{lin2024robust,
  title   = {Robust Diffusion Models for Adversarial Purification},
  author  = {Lin, Guang and Tao, Zerui and Zhang, Jianhai and Tanaka, Toshihisa and Zhao, Qibin},
  journal = {arXiv preprint arXiv:2403.16067},
  year    = {2024}
}"""


class PublishError(RuntimeError):
    """An entry that must not be published as asked: no results, or a different existing repo."""


@dataclass(frozen=True)
class Results:
    """One benchmark run of an entry under one threat model: its summary rows and provenance."""

    threat: str
    rows: pd.DataFrame  # the entry's rows of summary_<threat>.csv
    provenance: dict[str, Any]
    path: Path  # the summary CSV they come from

    @property
    def date(self) -> str:
        return str(self.provenance.get("date", ""))


def latest_results(name: str, leaderboard: str | Path = "leaderboard") -> list[Results]:
    """The newest results of entry ``name`` per threat model, from every ``summary_<threat>.csv``
    under ``leaderboard`` (newest by the date in the run's provenance)."""
    newest: dict[str, Results] = {}
    for path in sorted(Path(leaderboard).rglob("summary_*.csv")):
        threat = path.stem.removeprefix("summary_")
        frame = pd.read_csv(path)
        rows = frame[frame["model"] == name].reset_index(drop=True)
        provenance_path = path.with_name(f"provenance_{threat}.json")
        if rows.empty or not provenance_path.is_file():
            continue
        found = Results(threat, rows, json.loads(provenance_path.read_text()), path)
        if threat not in newest or found.date > newest[threat].date:
            newest[threat] = found
    return [newest[t] for t in sorted(newest)]


def eval_results(entry: Entry, results: list[Results]) -> list:
    """``model-index`` results: clean and robust (majority-vote) accuracy per attack and threat,
    each with the attack settings that produced it."""
    from huggingface_hub import EvalResult

    out = []
    for result in results:
        for row in result.rows.itertuples():
            args = {"threat": result.threat, "eps": float(row.eps), "attack": row.attack, "n_examples": int(row.n),
                    "purifications_per_example": int(row.k), "headline": "majority vote",
                    "budget": budget_of(result.provenance, entry.name),
                    "reduced_budget": bool(result.provenance.get("reduced_budget")),
                    "command": result.provenance.get("command"), "commit": result.provenance.get("commit")}
            common = dict(task_type="image-classification", task_name="Adversarially robust image classification",
                          dataset_type=entry.dataset, dataset_name=entry.dataset.upper(), dataset_split="test",
                          metric_type="accuracy", metric_args=args)
            if row.attack == "worst-case":
                out.append(EvalResult(metric_name=f"clean accuracy ({result.threat} run)",
                                      metric_value=float(row.clean_acc_vote), **common))
            out.append(EvalResult(metric_name=f"robust accuracy, {row.attack}, {result.threat} eps={row.eps:g}",
                                  metric_value=float(row.robust_acc_vote), **common))
    return out


def model_card(entry: Entry, results: list[Results], repo_id: str, revision: str = "main",
               training: dict[str, str] | None = None):
    """The model card (``huggingface_hub.ModelCard``) of a bundle of ``entry``."""
    from huggingface_hub import ModelCard, ModelCardData

    if not results:
        raise PublishError(f"no benchmark results for {entry.name}: run scripts/benchmark.py --model {entry.name} "
                           "first; a defense is published only with its results")
    data = ModelCardData(library_name="agdm-zoo", model_name=entry.name, datasets=[entry.dataset],
                         metrics=["accuracy"], tags=["adversarial-robustness", "diffusion-purification", "agdm",
                                                     "robustbench"],
                         eval_results=eval_results(entry, results))
    text = "---\n" + data.to_yaml() + "\n---\n\n" + _card_body(entry, results, repo_id, revision, training or {})
    return ModelCard(text)


def _card_body(entry: Entry, results: list[Results], repo_id: str, revision: str, training: dict[str, str]) -> str:
    p = entry.purification
    what = ("a plain classifier (no purification)" if p is None else
            f"DDPM purification to t* = {p.t_star} ({p.num_steps} reverse steps) with guidance pattern "
            f"`{p.pattern}` (scale s = {p.scale}, D = {p.distance}), then a classifier")
    lines = [f"# {entry.name}", "", entry.description, "",
             f"An agdm-zoo entry: {what}. Method: AGDM, {PAPER['name']} ({PAPER['link']}).",
             "", "## Load it", "", "```python", "import zoo",
             f'model = zoo.load("hf://{repo_id}@{revision}")   # torch.nn.Module: pixels in [0, 1], NCHW -> logits',
             "```", "",
             "Attacks must differentiate through the whole reverse chain and the guidance terms: the module does "
             "that by default (`grad_mode=\"checkpoint\"` for less memory).", "",
             "## Results", "",
             "Majority-vote accuracy over K independent purifications per example (robust only if also correct "
             "on the clean input), produced by `scripts/benchmark.py` of agdm-zoo:", ""]
    for result in results:
        reduced = "REDUCED budget" if result.provenance.get("reduced_budget") else "full budget"
        lines += [f"### {result.threat} ({reduced}: {budget_of(result.provenance, entry.name)})", "",
                  "| attack | eps | n | clean acc | robust acc |", "|---|---|---|---|---|"]
        lines += [f"| {r.attack} | {r.eps:g} | {int(r.n)} | {r.clean_acc_vote:.2f} | {r.robust_acc_vote:.2f} |"
                  for r in result.rows.itertuples()]
        lines += ["", f"Command: `{result.provenance.get('command')}` at commit `{result.provenance.get('commit')}`, "
                      f"{result.provenance.get('device')}, {result.provenance.get('date')}.", ""]
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


def remote_config(repo_id: str, revision: str | None = None) -> dict | None:
    """The config.json of an existing Hub repo, or ``None`` when the repo does not exist yet."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        return json.loads(Path(hf_hub_download(repo_id, CONFIG, revision=revision)).read_text())
    except (RepositoryNotFoundError, EntryNotFoundError):
        return None


def check_overwrite(folder: Path, existing: dict | None, force: bool) -> None:
    """Refuse to replace a different bundle already on the Hub (other weights or settings) unless
    ``force``; the same bundle again is fine."""
    if existing is None or force:
        return
    ours = json.loads((folder / CONFIG).read_text())
    if existing.get("entry") != ours.get("entry"):
        raise PublishError("the Hub repo already holds a different bundle (other weights or settings); "
                           "pass --force to replace it, or publish to another repo")


def publish(folder: Path, repo_id: str, *, private: bool, force: bool, revision: str | None = None,
            existing: Callable[[str, str | None], dict | None] = remote_config) -> str:
    """Create the repo (if needed) and upload the bundle folder; returns the commit URL."""
    from huggingface_hub import HfApi

    check_overwrite(folder, existing(repo_id, revision), force)
    api = HfApi()
    api.create_repo(repo_id, private=private, exist_ok=True)
    info = api.upload_folder(repo_id=repo_id, folder_path=str(folder), revision=revision,
                             commit_message=f"agdm-zoo bundle {folder.name}")
    return str(info)
