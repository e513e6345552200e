"""Build the leaderboard website from every results folder under --leaderboard.

    agdm-zoo site                      # leaderboard/ -> leaderboard/site/index.html
    agdm-zoo site --out /tmp/site      # anywhere else
    agdm-zoo site --screenshot         # and SITE/screenshot.png of the index, in headless Chromium

The site is static and self-contained (HTML, CSS, a little JS; no CDN), so it opens from file://
and offline. An empty leaderboard gives a site that says so; a results file that cannot be read
stops the build with its name, before anything is written.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from zoo.publishing.card import site_cards
from zoo.reporting.browser import page_url, screenshot
from zoo.reporting.site import build_site


def parse_args(argv=None, prog: str | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=prog, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--leaderboard", type=Path, default=Path("leaderboard"), help="results folder to read")
    p.add_argument("--out", type=Path, default=None, help="site folder (default: LEADERBOARD/site)")
    p.add_argument("--screenshot", action="store_true",
                   help="save SITE/screenshot.png of index.html as headless Chromium renders it")
    return p.parse_args(argv)


def main(argv=None, prog: str | None = None) -> int:
    args = parse_args(argv, prog)
    built = build_site(args.leaderboard, args.out, card=site_cards(args.leaderboard))
    print(f"site.py: {built.message}")
    if args.screenshot:
        shot = screenshot(page_url(built.out_dir / "index.html"), built.out_dir / "screenshot.png")
        print(f"site.py: screenshot {shot}")
    return 0

