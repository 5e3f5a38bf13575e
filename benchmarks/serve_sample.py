"""Seconds from upload to result in ``tpsmm serve``, through a real browser.

Starts ``tpsmm serve`` (the bundled demo model by default, or --checkpoint FILE) on a
free loopback port, and in headless Chromium (Debian's, through Playwright) uploads the
bundled sample image and video, presses Animate and waits for the result, --runs times;
prints each run and the median, and saves a screenshot of the page with the last
result (the README's picture).

    python benchmarks/serve_sample.py --runs 3 --screenshot docs/serve.png
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "tpsmm" / "assets"
sys.path.insert(0, str(REPO / "tests" / "serve"))
from serve_helpers import Server, open_browser, upload_and_animate  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="serve this checkpoint (default: the demo model)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, help="save the page with the result here")
    parser.add_argument("--side-by-side", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import expect, sync_playwright

    with tempfile.TemporaryDirectory(prefix="serve-bench-") as folder:
        root = Path(folder)
        server_args = ["--checkpoint", args.checkpoint] if args.checkpoint else []
        server = Server(root / "server", server_args).start()
        try:
            print("".join(server.output).strip())
            seconds = []
            with sync_playwright() as playwright:
                browser = open_browser(playwright, root / "profile")
                page = browser.new_page()
                for run in range(args.runs):
                    page.goto(server.url)
                    page.get_by_role("button", name="Animate", exact=True).wait_for()
                    if args.side_by_side:
                        page.locator("#side-by-side input").check()
                    seconds.append(
                        upload_and_animate(
                            page, ASSETS / "source.png", ASSETS / "driving.mp4", expect
                        )
                    )
                    status = page.locator("#status").inner_text()
                    print(f"run {run + 1}: {seconds[-1]:.1f} s from upload to result; {status}")
                if args.screenshot is not None:
                    page.locator("#result video").wait_for()
                    page.wait_for_timeout(1000)
                    page.screenshot(path=args.screenshot, full_page=True)
                    print(f"screenshot: {args.screenshot}")
                browser.close()
        finally:
            server.stop()
    print(
        f"median {statistics.median(seconds):.1f} s over {len(seconds)} runs "
        f"({platform.processor() or platform.machine()}, {Path('/proc/cpuinfo').exists() and _cpu_name()})"
    )
    return 0


def _cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
