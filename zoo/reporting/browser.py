"""Headless Chromium for the leaderboard site: the DOM a browser builds from a page (after its JS
ran) and a screenshot of it. Used by the site's tests and by ``scripts/site.py --screenshot``;
Chromium is not a dependency of the zoo (Debian: ``apt-get install chromium``)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


class BrowserError(RuntimeError):
    """No Chromium, or one that failed to render a page."""


def find_chromium() -> str | None:
    """The Chromium executable: ``$CHROMIUM`` if set, else the first of :data:`NAMES` on the PATH."""
    if os.environ.get("CHROMIUM"):
        return os.environ["CHROMIUM"]
    return next((found for found in map(shutil.which, NAMES) if found), None)


def _run(args: list[str], timeout: float) -> str:
    chromium = find_chromium()
    if chromium is None:
        raise BrowserError(f"no Chromium found (looked for $CHROMIUM and {', '.join(NAMES)}); "
                           "on Debian: apt-get install chromium")
    # --no-sandbox: CI and containers run as root, where Chromium's sandbox refuses to start
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage", *args]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as err:
        raise BrowserError(f"Chromium took over {timeout} s: {' '.join(command)}") from err
    if done.returncode != 0:
        raise BrowserError(f"Chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def page_url(path: str | Path, fragment: str = "") -> str:
    """The ``file://`` URL of a page, with an optional ``#fragment``."""
    url = Path(path).resolve().as_uri()
    return f"{url}#{fragment}" if fragment else url


def dump_dom(url: str, timeout: float = 60) -> str:
    """The page's DOM as HTML after its scripts ran."""
    return _run(["--virtual-time-budget=2000", "--dump-dom", url], timeout)


def screenshot(url: str, out: str | Path, width: int = 1300, height: int = 900, timeout: float = 60) -> Path:
    """A PNG screenshot of the page at ``width`` x ``height``; returns ``out``."""
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([f"--window-size={width},{height}", "--virtual-time-budget=2000", f"--screenshot={out}", url], timeout)
    if not out.is_file() or out.stat().st_size == 0:
        raise BrowserError(f"Chromium wrote no screenshot to {out}")
    return out
