"""Publish a zoo entry on the Hugging Face Hub as a bundle with a model card.

    python scripts/publish.py agdm-tiny-mnist --repo someone/agdm-tiny-mnist --dry-run
    python scripts/publish.py agdm-tiny-mnist --repo someone/agdm-tiny-mnist [--private] [--force]

Writes the bundle (config.json, one safetensors file per network, README.md model card whose
``model-index`` carries the entry's latest results under --leaderboard) into --out, then creates
the repo and uploads the folder. --dry-run writes the folder and lists what would be uploaded,
without any network access. An entry without benchmark results is refused, and so is replacing a
different bundle already in the repo unless --force. The token comes from HF_TOKEN or a prior
`hf auth login`; it is never printed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import zoo
from zoo.hub.bundle import save_bundle
from zoo.registry.bundles import FILES
from zoo.hub.card import SITE, PublishError, model_card
from zoo.hub.publish import publish
from zoo.leaderboard.files import latest_results
from zoo.registry import Entry, get_entry
from zoo.registry.sources import SourceError, local_path


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", help="zoo entry to publish")
    p.add_argument("--repo", required=True, help="Hub repo id, org/name")
    p.add_argument("--revision", default=None, help="branch to upload to (default: main)")
    p.add_argument("--private", action="store_true")
    p.add_argument("--dry-run", action="store_true", help="write the folder, upload nothing, touch no network")
    p.add_argument("--force", action="store_true", help="replace a different bundle already in the repo")
    p.add_argument("--leaderboard", default="leaderboard", help="where the benchmark results are")
    p.add_argument("--out", type=Path, default=None, help="bundle folder (default: runs/publish/NAME)")
    p.add_argument("--site-url", default=SITE, help="where the leaderboard site is published; the card links "
                   "the entry's page there (default: its path in the agdm-zoo repository)")
    return p.parse_args(argv)


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


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        entry = get_entry(args.name)
        results = latest_results(entry.name, args.leaderboard)
        card = model_card(entry, results, args.repo, args.revision or "main", training_notes(entry), args.site_url)
        folder = save_bundle(zoo.load(args.name, device="cpu"), args.out or Path("runs/publish") / entry.name)
        card.save(folder / "README.md")
        files = sorted(p for p in folder.iterdir() if p.is_file())
        for path in files:
            print(f"{path.stat().st_size / 2**20:8.2f} MiB  {path}")
        used = ", ".join(f"{r.threat} from {r.path}" for r in results)
        if args.dry_run:
            print(f"dry run: would upload these {len(files)} files to https://huggingface.co/{args.repo} "
                  f"({'private' if args.private else 'public'}; results: {used})")
            return 0
        print(f"uploaded: {publish(folder, args.repo, private=args.private, force=args.force, revision=args.revision)}")
        return 0
    except (KeyError, PublishError, SourceError) as err:
        print(f"publish.py: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
