"""The Live tab in a real browser: Chromium's fake camera playing a y4m file made from
the bundled driving video, and reading the page's figures (tests and the benchmark)."""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import av
import numpy as np
from PIL import Image
from serve_helpers import CHROMIUM, CHROMIUM_ARGS

from live.live_footage import camera_frames

#: Chromium's fake camera: the y4m file it plays (in a loop) instead of a camera.
FAKE_CAMERA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"]


def camera_y4m(path: Path, frames: int = 50) -> Path:
    """The fake camera's file: ``frames`` frames of the bundled driving video as a
    320x240 webcam sees them (:func:`live.live_footage.camera_frames`)."""
    return write_y4m(path, camera_frames(frames))


def write_y4m(path: Path, frames: list, fps: int = 25) -> Path:
    """Write (H, W, 3) uint8 frames as a YUV4MPEG2 file (4:2:0), what Chromium's fake
    camera plays."""
    height, width = frames[0].shape[:2]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            planes = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
            out.write(b"FRAME\n")
            out.write(planes.to_ndarray().tobytes())
    return path


def open_camera_browser(playwright, y4m: Path):
    """Debian's Chromium, headless, whose camera plays ``y4m`` (no browser download)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*CHROMIUM_ARGS, *FAKE_CAMERA_ARGS, f"--use-file-for-fake-video-capture={y4m}"],
    )


def open_live_tab(page, url: str, *, follow: bool | None = None) -> None:
    """Open the page's Live tab, pick the sample and (un)tick face following."""
    page.goto(url)
    page.get_by_role("tab", name="Live").click()
    page.locator("#live-use-sample").click()
    page.locator("#live-source img").wait_for()
    if follow is not None:
        box = page.locator("#live-follow input")
        if box.count() and box.is_checked() != follow:
            box.click()


def figures(page) -> tuple[float, float]:
    """The page's frames per second and median latency (ms; NaN when it shows none)."""
    fps = float(page.locator("#live-fps").inner_text())
    latency = page.locator("#live-latency").inner_text()
    return fps, float(latency) if latency.strip() not in ("", "-") else math.nan


def stats(page) -> dict:
    """``tpsmmLive.stats()`` of the page."""
    return page.evaluate("tpsmmLive.stats()")


def decode_data_url(url: str) -> np.ndarray:
    """An image data URL as (H, W, 3) uint8."""
    data = base64.b64decode(url.split(",", 1)[1])
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))
