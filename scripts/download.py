"""Fetch every file the given zoo entries need into the caches ``zoo.load`` reads.

Run it on a machine with internet, then copy the Hugging Face cache (``HF_HOME``) and agdm-zoo's
cache (``AGDM_ZOO_CACHE``, default ``~/.cache/agdm-zoo``) to an offline compute node, where
``HF_HUB_OFFLINE=1 python -c "import zoo; zoo.load('NAME')"`` then works.

    python scripts/download.py agdm-wrn28-cifar10 diffpure-wrn28-cifar10
    python scripts/download.py hf://org/agdm-wrn28-cifar10@v1.0        # a published bundle
"""
from __future__ import annotations

import argparse

from zoo.registry import get_entry
from zoo.registry.sources import fetch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", help="zoo entries, or bundles (hf://org/repo@rev)")
    args = p.parse_args()
    for name in args.names:
        entry = get_entry(name)
        for role in ("diffusion", "guidance", "classifier"):
            component = getattr(entry, role)
            if component is None:
                continue
            path = fetch(component.source, component.sha256)
            files = [f for f in path.rglob("*") if f.is_file()] if path.is_dir() else [path]
            size = sum(f.stat().st_size for f in files) / 2**20
            print(f"{name:24s} {role:10s} {component.source} -> {path} ({size:.1f} MiB)")


if __name__ == "__main__":
    main()
