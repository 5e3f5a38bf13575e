"""``tpsmm serve`` end to end: the real command in a subprocess, driven by a headless
Chromium (Debian's ``chromium`` through Playwright, no browser download) and by
gradio's client for two users at once.

One server for the module (starting it costs most of the time): the tiny model, uploads
bounded to 2 MB. Skips with one line where Gradio, Playwright or Chromium is absent.
"""

from __future__ import annotations

import signal
import time
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import av
import pytest
from serve_helpers import (
    CHROMIUM,
    RESULT_TIMEOUT_MS,
    Server,
    files_under,
    open_browser,
    upload_and_animate,
)

from cli.cli_helpers import pattern_frame, write_video
from tpsmm.media import VideoReader

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
SAMPLE_IMAGE, SAMPLE_VIDEO = ASSETS / "source.png", ASSETS / "driving.mp4"
SAMPLE_FRAMES = 169
CLIP_FRAMES = 12
LONG_FRAMES = 1000  # the server's default bound
PACKAGE = ASSETS.parent
# The package's files when the server started (it must add none, e.g. no .pyi).
package_files: list[Path] = []
UPLOAD_LIMIT_MB = 2

pytest.importorskip("gradio", reason="the web extra (gradio) is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, serve_checkpoint: Path):
    """``tpsmm serve`` with the tiny model, confined to a folder of its own."""
    root = tmp_path_factory.mktemp("server")
    package_files.extend(files_outside_pycache(PACKAGE))
    started = Server(
        root,
        ["--checkpoint", f"tiny={serve_checkpoint}", "--max-upload-mb", str(UPLOAD_LIMIT_MB)],
    ).start()
    yield started
    started.stop()


def files_outside_pycache(folder: Path) -> list[Path]:
    return [path for path in files_under(folder) if "__pycache__" not in path.parts]


def workspace_of(server: Server) -> Path:
    """The server's one folder (tpsmm-serve-*) in its temporary folder."""
    (workspace,) = [path for path in server.tmp.iterdir() if path.name.startswith("tpsmm-serve-")]
    return workspace


def check_result_video(path: Path, frames: int) -> None:
    """An H.264 MP4 with ``frames`` frames at the sample's 25 fps and an audio stream."""
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert len(container.streams.audio) == 1
    with VideoReader(path) as reader:
        assert reader.frame_rate == Fraction(25)
        assert sum(1 for _ in reader) == frames


def test_two_users_at_once_get_their_own_results(server: Server, tmp_path: Path):
    """Two requests sent together through gradio's client: each gets its own result
    (one side by side, one not), the queue runs them one after the other."""
    from gradio_client import Client, handle_file

    clip = write_video(
        tmp_path / "clip.mp4",
        (pattern_frame(index, (96, 80)) for index in range(CLIP_FRAMES)),
        audio=True,
    )
    client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
    jobs = [
        client.submit(
            handle_file(str(SAMPLE_IMAGE)),
            handle_file(str(clip)),
            "tiny",
            "relative",
            "crop",
            side,
            False,
            api_name="/animate",
        )
        for side in (True, False)
    ]
    results = [job.result(timeout=RESULT_TIMEOUT_MS / 1000) for job in jobs]
    widths = []
    for video, status, _download in results:
        assert status.startswith("**Done:**"), status
        path = Path(video)
        check_result_video(path, CLIP_FRAMES)
        with VideoReader(path) as reader:
            widths.append(reader.size[0])
    assert widths == [3 * 64, 64]
    events = [
        line.split("tpsmm serve: ")[1].split(":")[0]
        for line in server.output
        if " request " in line
    ]
    assert events[-4:] in (
        ["request 1 started", "request 1 finished", "request 2 started", "request 2 finished"],
    ), server.log
    assert list((workspace_of(server) / "requests").iterdir()) == []


def test_browser_animates_the_sample_and_refuses_bad_uploads(server: Server, tmp_path: Path):
    """Upload the sample through the page, animate, get a playable video with the
    driving video's frames and audio; an oversized upload and a text file as the video
    get messages and start nothing; the server still serves; a screenshot is saved."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    requests: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = open_browser(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(server.url)
            animate = page.get_by_role("button", name="Animate", exact=True)
            animate.wait_for()

            image_input = page.locator("#source-image input[type=file]")
            video_input = page.locator("#driving-video input[type=file]")
            status = page.locator("#status")

            # Too large: refused by the page before it is sent.
            big = tmp_path / "big.mp4"
            big.write_bytes(b"\0" * (UPLOAD_LIMIT_MB * 2**20 + 1))
            video_input.set_input_files(big)
            sync_api.expect(page.get_by_text("exceed the maximum allowed size")).to_be_visible()
            # A text file as the video: refused by the page ...
            notes = tmp_path / "notes.txt"
            notes.write_text("not a video\n")
            video_input.set_input_files(notes)
            sync_api.expect(page.get_by_text("Invalid file type: notes.txt")).to_be_visible()
            # ... and one named like a video, by the server, before any work.
            image_input.set_input_files(SAMPLE_IMAGE)
            fake = tmp_path / "talk.mp4"
            fake.write_text("not a video either\n")
            video_input.set_input_files(fake)
            page.locator("#driving-video video").wait_for()
            animate.click()
            sync_api.expect(status).to_contain_text("Not started:", timeout=60_000)
            assert "talk.mp4: cannot be read as a video" in status.inner_text()

            # The sample, uploaded through a fresh page: the server still serves. (Not the
            # video's Clear button: while the browser reports the fake video unplayable,
            # Gradio's status tracker adds a second one, for a time that varies by machine.)
            page.goto(server.url)
            animate.wait_for()
            seconds = upload_and_animate(page, SAMPLE_IMAGE, SAMPLE_VIDEO, sync_api.expect)
            assert f"{SAMPLE_FRAMES} frames" in status.inner_text()
            assert "with audio" in status.inner_text()

            # It plays in the page: the browser decodes it, to its full length.
            video = page.locator("#result video")
            video.wait_for()
            page.wait_for_function(
                "v => v.readyState >= 2", arg=video.element_handle(), timeout=60_000
            )
            duration = video.evaluate("v => v.duration")
            assert duration == pytest.approx(SAMPLE_FRAMES / 25, abs=0.1)
            result = tmp_path / "result.mp4"
            result.write_bytes(page.request.get(video.get_attribute("src")).body())
            check_result_video(result, SAMPLE_FRAMES)
            with page.expect_download() as download:
                page.locator("#download").click()
            assert download.value.suggested_filename.endswith(".mp4")
            page.screenshot(path=tmp_path / "serve.png", full_page=True)
            print(f"sample: upload to result {seconds:.1f} s; screenshot {tmp_path / 'serve.png'}")

            # "Use the sample" fills both uploads in one click.
            page.goto(server.url)
            sync_api.expect(page.locator("#driving-video video")).to_have_count(0)
            page.get_by_role("button", name="Use the sample").click()
            sync_api.expect(page.locator("#source-image img")).to_be_visible()
            sync_api.expect(page.locator("#driving-video video")).to_be_visible()
        finally:
            browser.close()
    assert server.alive()
    hosts = {urlparse(url).hostname for url in requests if not url.startswith(("data:", "blob:"))}
    assert hosts == {"127.0.0.1"}, sorted(hosts)
    assert list((workspace_of(server) / "requests").iterdir()) == []


def long_clip(folder: Path) -> Path:
    """A driving video the bundled demo model takes a minute or more to animate."""
    frames = (pattern_frame(index) for index in range(LONG_FRAMES))
    return write_video(folder / "long.mp4", frames, audio=True)


def wait_for_line(server: Server, text: str, after: int = 0, timeout: float = 600) -> str:
    """The first line of the server's output from line ``after`` on that holds ``text``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in server.output[after:]:
            if text in line:
                return line
        time.sleep(0.2)
    raise AssertionError(f"no line with {text!r} in:\n{server.log}")


def test_closing_the_page_cancels_its_request(server: Server, tmp_path: Path):
    """A request whose page is closed stops (Gradio's unload event), so the next user
    does not wait for it."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    clip = long_clip(tmp_path)
    seen = len(server.output)
    with sync_api.sync_playwright() as playwright:
        browser = open_browser(playwright, tmp_path / "profile")
        try:
            page = browser.new_page()
            page.goto(server.url)
            page.locator("#source-image input[type=file]").set_input_files(SAMPLE_IMAGE)
            page.locator("#driving-video input[type=file]").set_input_files(clip)
            page.locator("#driving-video video").wait_for()
            page.get_by_role("button", name="Animate", exact=True).click()
            started = wait_for_line(server, " started: ", seen)
            page.close()
        finally:
            browser.close()
    number = started.split("request ")[1].split()[0]
    line = wait_for_line(server, f"request {number} ", seen + 1, timeout=120)
    assert line.endswith(f"request {number} cancelled: the page was closed\n"), server.log
    assert list((workspace_of(server) / "requests").iterdir()) == []


def test_writes_nowhere_else_and_cleans_up_on_stop(server: Server, tmp_path: Path):
    """After the requests above: nothing in the server's home or working folder, no
    network attempt; SIGTERM while it animates stops the request and the server with one
    line, status 143 (not the C++ runtime's abort of a thread left inside torch), and
    removes its one temporary folder."""
    from gradio_client import Client, handle_file

    assert files_under(server.home) == []
    assert files_under(server.cwd) == []
    assert files_outside_pycache(PACKAGE) == package_files
    assert [path.name for path in server.tmp.iterdir()] == [workspace_of(server).name]
    assert not server.network_log.exists(), server.network_log.read_text()
    seen = len(server.output)
    client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
    client.submit(
        handle_file(str(SAMPLE_IMAGE)), handle_file(str(long_clip(tmp_path))), "demo",
        "relative", "crop", False, False, api_name="/animate",
    )  # fmt: skip
    wait_for_line(server, " started: ", seen)
    assert server.stop() == 143, server.log  # SIGTERM: one line, status 143
    assert "cancelled: the server is stopping" in server.log
    assert server.output[-1] == "tpsmm serve: terminated (SIGTERM)\n", server.log
    assert "terminate called" not in server.log
    assert files_under(server.tmp) == [], server.log


@pytest.mark.slow
def test_ctrl_c_while_animating_ends_cleanly(serve_checkpoint: Path, tmp_path: Path):
    """SIGINT (Ctrl-C) while a request runs: one line, status 130."""
    from gradio_client import Client, handle_file

    server = Server(tmp_path / "server", ["--checkpoint", f"tiny={serve_checkpoint}"]).start()
    try:
        client = Client(server.url, verbose=False, download_files=str(tmp_path / "downloads"))
        client.submit(
            handle_file(str(SAMPLE_IMAGE)), handle_file(str(long_clip(tmp_path))), "demo",
            "relative", "crop", False, False, api_name="/animate",
        )  # fmt: skip
        wait_for_line(server, " started: ")
    finally:
        status = server.stop(signum=signal.SIGINT)
    assert status == 130, server.log
    assert server.output[-1] == "tpsmm serve: interrupted\n", server.log
    assert "terminate called" not in server.log
    assert files_under(server.tmp) == [], server.log
