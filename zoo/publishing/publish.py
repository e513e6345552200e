"""Uploading a bundle to the Hugging Face Hub, refusing to replace a different one.

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, a prior ``hf auth login``); this
module never reads, prints or writes them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..reporting.files import Results, latest_results
from ..models.factory import create_model
from ..registry.bundles import CONFIG
from ..registry.resolve import get_entry
from .bundle import save_bundle
from .card import SITE, PublishError, model_card, sanity_reports, training_notes


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


def write_bundle(name: str, repo_id: str, out: Path | None = None, revision: str | None = None,
                 leaderboard: str | Path = "leaderboard", site_url: str = SITE) -> tuple[Path, list[Results]]:
    """Write entry ``name`` as a bundle folder (default ``runs/publish/NAME``) with its model card,
    built from its newest results under ``leaderboard`` (none: :class:`PublishError`) and linking
    the entry's page on the leaderboard site at ``site_url``; returns the
    folder and the results it used. Touches no network for a shipped entry."""
    entry = get_entry(name)
    results = latest_results(entry.name, leaderboard)
    card = model_card(entry, results, repo_id, revision or "main", training_notes(entry), site_url,
                      sanity_reports(entry.name, leaderboard))
    folder = save_bundle(create_model(entry, device="cpu"), out or Path("runs/publish") / entry.name)
    card.save(folder / "README.md")
    return folder, results
