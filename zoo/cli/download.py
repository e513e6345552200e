"""Fetch every file the given zoo entries need into the caches ``zoo.load`` reads.

Run it on a machine with internet, then copy the Hugging Face cache (``HF_HOME``) and agdm-zoo's
cache (``AGDM_ZOO_CACHE``, default ``~/.cache/agdm-zoo``) to an offline compute node, where
``HF_HUB_OFFLINE=1 python -c "import zoo; zoo.load('NAME')"`` then works.

    agdm-zoo download agdm-wrn28-cifar10 diffpure-wrn28-cifar10      # = scripts/download.py
    agdm-zoo download hf://org/agdm-wrn28-cifar10@v1.0               # a published bundle
"""
from __future__ import annotations

import argparse

from zoo.registry import get_entry
from zoo.registry.sources import fetch_components


def main(argv=None, prog: str | None = None) -> int:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="+", help="zoo entries, or bundles (hf://org/repo@rev)")
    args = p.parse_args(argv)
    for name in args.names:
        for role, component, path, size in fetch_components(get_entry(name)):
            print(f"{name:24s} {role:10s} {component.source} -> {path} ({size:.1f} MiB)")
    return 0
