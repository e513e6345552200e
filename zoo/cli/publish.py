"""Publish a zoo entry on the Hugging Face Hub as a bundle with a model card.

    agdm-zoo publish agdm-tiny-mnist --repo someone/agdm-tiny-mnist --dry-run     # = scripts/publish.py
    agdm-zoo publish agdm-tiny-mnist --repo someone/agdm-tiny-mnist [--private] [--force]

Writes the bundle (config.json, one safetensors file per network, README.md model card whose
``model-index`` carries the entry's latest results under --leaderboard) into --out, then creates
the repo and uploads the folder. --dry-run writes the folder and lists what would be uploaded,
without any network access. An entry without benchmark results is refused, and so is replacing a
different bundle already in the repo unless --force. The token comes from HF_TOKEN or a prior
`hf auth login`; it is never printed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.publishing.card import SITE
from zoo.publishing.publish import publish, write_bundle


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
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


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    folder, results = write_bundle(args.name, args.repo, args.out, args.revision, args.leaderboard, args.site_url)
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
