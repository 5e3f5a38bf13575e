"""The Live tab end to end: ``tpsmm serve`` in a subprocess, headless Chromium (Debian's,
through Playwright) whose fake camera plays frames of the bundled driving video.

The answers are checked against the model itself: the page keeps the camera frame that
became the reference, the last frame answered and its result, and the same frames
animated here by the tiny model, through the same JPEG encoder, give the same picture. Skips with one line where Gradio, Playwright or Chromium is absent.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from live_helpers import (
    camera_y4m,
    decode_data_url,
    figures,
    open_camera_browser,
    open_live_tab,
    stats,
)
from serve_helpers import CHROMIUM, Server

from live.live_footage import SAMPLE_IMAGE
from tpsmm import load_animation_model
from tpsmm.live import LiveAnimator
from tpsmm.media import load_image
from tpsmm.serve.live import decode_jpeg, encode_jpeg

pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install -y chromium)", allow_module_level=True)

FOLLOW = importlib.util.find_spec("dlib") is not None
#: Mean difference (levels) between the page's picture and the one made here: the same
#: frames through the same encoder give the same bytes, but PyTorch in another process
#: (another thread count) may round a few pixels the other way; a frame animated
#: against another reference or by another driving frame is off by several levels.
SAME_PICTURE = 1.0
WAIT_MS = 120_000  # a shared 2-core machine under load (Playwright's default is 30 s)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, serve_checkpoint: Path):
    root = tmp_path_factory.mktemp("live-server")
    started = Server(
        root,
        ["--checkpoint", f"tiny={serve_checkpoint}", "--dtype", "float32", "--live-sessions", "3"],
    ).start()
    yield started
    started.stop()


def new_page(browser):
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    return context.new_page()


def start_live(page, url: str, *, follow: bool) -> None:
    """The Live tab with the sample and the tiny model, the camera started."""
    open_live_tab(page, url, follow=follow)
    page.locator("#live-model input").click()
    page.get_by_role("option", name="tiny").click()
    page.locator("#live-start").click()


def wait_shown(page, frames: int) -> None:
    page.wait_for_function(f"tpsmmLive.stats().shown >= {frames}", timeout=WAIT_MS)


def replay_error(page, model) -> tuple[float, float, dict]:
    """(how far the last result is from the tiny model's answer for the same reference
    and frame, how far that answer is from the reference pose's, the snapshot)."""
    snapshot = page.evaluate("tpsmmLive.snapshot()")
    reference, frame, result = (
        decode_data_url(snapshot[key]) for key in ("reference", "frame", "result")
    )
    live = LiveAnimator(model, load_image(SAMPLE_IMAGE))
    at_rest = live.animate(reference).image.astype(np.float64)
    expected = live.animate(frame).image
    sent_back = decode_jpeg(encode_jpeg(expected)).astype(np.float64)
    error = float(np.abs(result - sent_back).mean())
    return error, float(np.abs(expected - at_rest).mean()), snapshot


def wait_for_log(server: Server, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while text not in server.log:
        assert time.monotonic() < deadline, f"{text!r} not in:\n{server.log}"
        time.sleep(0.1)


def test_live_tab_animates_the_camera_in_sessions_of_their_own(
    server: Server, serve_checkpoint: Path, tmp_path: Path
):
    model = load_animation_model(serve_checkpoint, device="cpu", dtype="float32")
    source = LiveAnimator(model, load_image(SAMPLE_IMAGE)).source.astype(np.float64)
    with sync_api.sync_playwright() as playwright:
        browser = open_camera_browser(playwright, camera_y4m(tmp_path / "camera.y4m"))
        try:
            first = new_page(browser)
            start_live(first, server.url, follow=False)
            wait_shown(first, 10)
            # The figures, every second: numbers (frames per second, milliseconds).
            first.wait_for_function(
                "/^[0-9.]+$/.test(document.getElementById('live-latency').textContent)",
                timeout=WAIT_MS,
            )
            fps, latency = figures(first)
            assert fps > 0 and latency > 0
            assert stats(first)["references"] == 1

            # Each answer is the model's for its frame against the reference: animated
            # (not the source), and moving with the driver.
            moves = []
            for _ in range(8):
                error, moved, snapshot = replay_error(first, model)
                assert error < SAME_PICTURE, (error, snapshot["header"])
                assert np.abs(decode_data_url(snapshot["result"]) - source).mean() > 5
                moves.append(moved)
                first.wait_for_timeout(250)
            assert max(moves) > 5 * SAME_PICTURE, moves

            # Reset: the next frame is a new reference, and answers follow it.
            old_reference = decode_data_url(first.evaluate("tpsmmLive.snapshot()")["reference"])
            first.locator("#live-reset").click()
            first.wait_for_function("tpsmmLive.stats().references >= 2", timeout=WAIT_MS)
            shown = stats(first)["shown"]
            wait_shown(first, shown + 3)
            error, _, snapshot = replay_error(first, model)
            assert error < SAME_PICTURE
            assert not np.array_equal(decode_data_url(snapshot["reference"]), old_reference)

            # A second browser at the same time: a session of its own (face followed
            # where the eval extra is installed), while the first goes on.
            second = new_page(browser)
            start_live(second, server.url, follow=FOLLOW)
            wait_shown(second, 5)
            assert stats(second)["session"] != stats(first)["session"]
            if FOLLOW:
                assert stats(second)["last"]["face"] is True
            shown = stats(first)["shown"]
            wait_shown(first, shown + 5)
            number = stats(second)["session"]
            assert f"live session {number} opened (2 open)" in server.log

            # Closing the tab ends its session on the server.
            second.close()
            wait_for_log(server, f"live session {number} closed by the page")
            first.locator("#live-stop").click()
            wait_for_log(server, f"live session {stats(first)['session']} closed by the page")
            sync_api.expect(first.locator("#live-status")).to_have_text("Stopped.")
        finally:
            browser.close()
    assert server.alive()
    assert not server.network_log.exists()
