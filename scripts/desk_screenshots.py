"""Refresh the README's screenshots of the web desk (docs/screenshots/*.png).

    .venv/bin/python scripts/desk_screenshots.py

Runs the browser tests (tests/web/test_browser.py: Playwright driving Debian's
/usr/bin/chromium against a desk serving a polled loopback site) with
AGGREGATOR_SCREENSHOTS pointing at docs/screenshots, so each screenshot shows a page
in the state a test has just checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    out = REPO / "docs" / "screenshots"
    env = {**os.environ, "AGGREGATOR_SCREENSHOTS": str(out)}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/web/test_browser.py",
    ]
    code = subprocess.call(cmd, cwd=REPO, env=env)
    if code == 0:
        print(f"screenshots in {out}: {', '.join(sorted(p.name for p in out.glob('*.png')))}")
    return code


if __name__ == "__main__":
    sys.exit(main())
