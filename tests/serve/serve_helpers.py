"""Starting ``tpsmm serve`` for the tests: a subprocess on a free loopback port, with a
home, working folder and temporary folder of its own (so the tests can check that it
writes nowhere else) and no network beyond this machine (see :mod:`no_network`)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The `tpsmm` command, started after the network guard: main() as the console script
# calls it (main(argv) from Python would pass a stopping signal on to the caller).
SERVE_CODE = "import no_network, sys, tpsmm.cli as c; sys.exit(c.main())"
READY = re.compile(r"serving on (http://\S+)")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags that keep Chromium off the network and off this machine's profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Generous: a shared 2-core machine under load animates the sample in about a minute.
RESULT_TIMEOUT_MS = 600_000


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``tpsmm serve ARGS`` in a subprocess confined to ``root`` (home/, cwd/, tmp/).

    Attributes:
        url: the page's address once started; network_log: refused network attempts.
    """

    def __init__(self, root: Path, args: list[str]):
        self.root = root
        self.home, self.cwd, self.tmp = root / "home", root / "cwd", root / "tmp"
        for folder in (self.home, self.cwd, self.tmp):
            folder.mkdir(parents=True)
        self.network_log = root / "network.log"
        self.args = ["serve", "--host", "127.0.0.1", "--port", str(free_port()), *args]
        self.output: list[str] = []
        self.url = ""
        self.process: subprocess.Popen[str] | None = None
        self.reader: threading.Thread | None = None

    def start(self, timeout: float = 600) -> Server:
        env = {
            **os.environ,
            "HOME": str(self.home),
            "TMPDIR": str(self.tmp),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
            "TPSMM_TEST_NETWORK_LOG": str(self.network_log),
            "PYTHONUNBUFFERED": "1",
        }
        env.pop("TPSMM_CHECKPOINT", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", SERVE_CODE, *self.args],
            cwd=self.cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        ready = threading.Event()
        self.reader = threading.Thread(target=self._read, args=(ready,), daemon=True)
        self.reader.start()
        if not ready.wait(timeout) or not self.url:
            self.stop()
            raise RuntimeError(f"tpsmm serve did not start:\n{self.log}")
        return self

    def _read(self, ready: threading.Event) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            match = READY.search(line)
            if match:
                self.url = match.group(1)
                ready.set()
        ready.set()

    @property
    def log(self) -> str:
        return "".join(self.output)

    def alive(self) -> bool:
        """Whether the page still answers."""
        try:
            with urllib.request.urlopen(self.url, timeout=30) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self, timeout: float = 120, signum: int = signal.SIGTERM) -> int | None:
        """SIGTERM, as a service manager stops it (or ``signum``); returns the exit
        status."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.reader is not None:
            self.reader.join(30)  # the output to its end
        return self.process.returncode


def files_under(folder: Path) -> list[Path]:
    """Every file and folder below ``folder``."""
    return sorted(folder.rglob("*"))


def open_browser(playwright, profile: Path):
    """Debian's Chromium, headless, with a fresh profile in ``profile`` (a Playwright
    persistent context; no browser download)."""
    return playwright.chromium.launch_persistent_context(
        profile,
        executable_path=CHROMIUM,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 1100},
        accept_downloads=True,
    )


def upload_and_animate(page, image: Path | None, video: Path, expect) -> float:
    """Upload (``image`` unless None, then) ``video`` through the page, press Animate and
    wait for the result; returns the seconds from the first upload to the result."""
    started = time.perf_counter()
    if image is not None:
        page.locator("#source-image input[type=file]").set_input_files(image)
    page.locator("#driving-video input[type=file]").set_input_files(video)
    page.locator("#driving-video video").wait_for()
    page.get_by_role("button", name="Animate", exact=True).click()
    expect(page.locator("#status")).to_contain_text("Done:", timeout=RESULT_TIMEOUT_MS)
    return time.perf_counter() - started
