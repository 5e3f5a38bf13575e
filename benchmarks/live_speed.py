"""Frames per second and latency of live animation: the Live tab in a real browser, and
the server's work per frame.

``browser`` (the default): starts ``tpsmm serve`` (the bundled demo model, --dtype
auto), opens the Live tab in headless Chromium (Debian's, through Playwright) whose fake
camera plays the bundled driving video as a 640x480 webcam picture, picks the sample,
starts the camera, and after a warm-up reads the page's figures for --seconds: frames
shown per second, the median latency from capture to display, and the server's time
per stage (from the answers' headers). Runs each --setting in turn: ``centre`` (the
camera's centre square sent at the model's size), ``face`` (the picture sent at 320
pixels, the face followed on the server), ``one`` (as centre, one frame in flight
instead of two).

``gradio-stream``: the transport not taken, for comparison: a Gradio page whose webcam
image streams to the same animation (``gr.Image(streaming=True)`` and ``.stream``,
every 0.04 s), frames animated per second counted on the server.

``engine``: :class:`tpsmm.live.LiveAnimator` alone on the same 640x480 pictures, no
browser or transport, with the time per stage; ``--checkpoint vox-reference`` takes the
published vox-256 architecture (the reference weights of tests/reference_weights.py).

    python benchmarks/live_speed.py                       # the browser, three settings
    python benchmarks/live_speed.py gradio-stream
    python benchmarks/live_speed.py engine --checkpoint vox-reference --face
    python benchmarks/live_speed.py --setting face --screenshot docs/live.png

Prints the machine (CPU, flags, threads, ``uptime``'s load) with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "serve"), str(REPO / "tests")]
from live_helpers import open_camera_browser, open_live_tab, stats, write_y4m  # noqa: E402
from serve_helpers import Server  # noqa: E402

from live.live_footage import camera_frames  # noqa: E402

CAMERA = (640, 480)
SETTINGS = {"centre": (False, None), "face": (True, None), "one": (False, 1)}
STAGES = ("wait", "decode", "face", "crop", "model", "encode")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode", nargs="?", choices=("browser", "gradio-stream", "engine"), default="browser"
    )
    parser.add_argument("--checkpoint", help="a checkpoint (default the demo model); "
                        "vox-reference: the reference weights (vox-256)")  # fmt: skip
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, ...")
    parser.add_argument("--seconds", type=float, default=20, help="measured, after warm-up")
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--setting", action="append", choices=list(SETTINGS))
    parser.add_argument("--face", action="store_true", help="engine: follow the face")
    parser.add_argument("--frames", type=int, default=100, help="engine: frames animated")
    parser.add_argument(
        "--screenshot", type=Path, help="browser: save the page here (after the face setting)"
    )
    args = parser.parse_args()
    checkpoint = _checkpoint(args.checkpoint)
    print(machine())
    if args.mode == "engine":
        return engine(checkpoint, args)
    if args.mode == "gradio-stream":
        return gradio_stream(checkpoint, args)
    return browser(checkpoint, args)


def _checkpoint(name: str | None) -> str | None:
    if name == "vox-reference":
        from reference_weights import reference_weights

        return str(reference_weights()[0])
    return name


def browser(checkpoint: str | None, args: argparse.Namespace) -> int:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
        root = Path(folder)
        y4m = write_y4m(root / "camera.y4m", camera_frames(100, CAMERA))
        server_args = ["--dtype", args.dtype, "--device", args.device, "--live-idle", "600"]
        if checkpoint:
            server_args += ["--checkpoint", f"bench={checkpoint}"]
        server = Server(root / "server", server_args).start()
        try:
            print("".join(server.output).strip())
            with sync_playwright() as playwright:
                browser = open_camera_browser(playwright, y4m)
                settings = args.setting or list(SETTINGS)
                for name in settings:
                    follow, in_flight = SETTINGS[name]
                    page = browser.new_context().new_page()
                    open_live_tab(page, server.url, follow=follow)
                    if checkpoint:
                        page.locator("#live-model input").click()
                        page.get_by_role("option", name="bench").click()
                    if in_flight:
                        page.evaluate(f"tpsmmLive.setMaxInFlight({in_flight})")
                    page.locator("#live-start").click()
                    page.wait_for_function("tpsmmLive.stats().shown > 0", timeout=300_000)
                    measure(page, name, args.warmup, args.seconds)
                    if args.screenshot is not None and (follow or name == settings[-1]):
                        page.set_viewport_size({"width": 1280, "height": 760})
                        page.screenshot(path=args.screenshot)
                        print(f"screenshot: {args.screenshot}")
                        args.screenshot = None
                    page.close()
                browser.close()
        finally:
            server.stop()
    return 0


def measure(page, name: str, warmup: float, seconds: float) -> None:
    """Read the page for ``seconds`` after ``warmup``; print one line per setting."""
    time.sleep(warmup)
    before = stats(page)
    shown_figures = []
    for _ in range(int(seconds)):
        time.sleep(1)
        fps = page.locator("#live-fps").inner_text()
        latency = page.locator("#live-latency").inner_text()
        shown_figures.append(f"{fps}/{latency}")
    after = stats(page)
    frames = after["shown"] - before["shown"]
    new = frames if frames <= len(after["latencies"]) else len(after["latencies"])
    latencies = after["latencies"][-new:] if new else [float("nan")]
    times = after["times"][-new:] if new else []
    stages = ", ".join(
        f"{stage} {statistics.median(t[stage] for t in times):.1f}" for stage in STAGES if times
    )
    print(
        f"{name}: {frames / int(seconds):.1f} frames per second, median latency "
        f"{statistics.median(latencies):.0f} ms (p90 {_percentile(latencies, 90):.0f}); "
        f"server medians in ms: {stages}; {after['skipped'] - before['skipped']} camera "
        f"frames skipped by the page, {after['dropped'] - before['dropped']} dropped by the "
        f"server"
    )
    if times:
        waits = [t["wait"] for t in times]
        busy = statistics.median(sum(v for k, v in t.items() if k != "wait") for t in times)
        print(
            f"  wait in the server's slot p10/p50/p90: {_percentile(waits, 10):.1f}/"
            f"{statistics.median(waits):.1f}/{_percentile(waits, 90):.1f} ms; server busy "
            f"{busy * frames / int(seconds) / 10:.0f}% of the time"
        )
    print(f"  the page's figures each second (fps/ms): {' '.join(shown_figures)}")


def gradio_stream(checkpoint: str | None, args: argparse.Namespace) -> int:
    """Gradio's own image streaming, the webcam's frames animated on the server."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    import gradio as gr
    from playwright.sync_api import sync_playwright

    from tpsmm import load_animation_model
    from tpsmm.live import LiveAnimator
    from tpsmm.media import load_image

    model = load_animation_model(checkpoint or "demo", device=args.device, dtype=args.dtype)
    live = LiveAnimator(model, load_image(REPO / "src" / "tpsmm" / "assets" / "source.png"))
    calls: list[float] = []

    def animate(frame):
        calls.append(time.monotonic())
        return None if frame is None else live.animate(frame).image

    with gr.Blocks(analytics_enabled=False) as demo:
        camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", elem_id="cam")
        result = gr.Image(elem_id="result")
        camera.stream(animate, camera, result, stream_every=0.04, concurrency_limit=1)
    demo.launch(prevent_thread_lock=True, quiet=True, ssr_mode=False)
    try:
        with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
            y4m = write_y4m(Path(folder) / "camera.y4m", camera_frames(100, CAMERA))
            with sync_playwright() as playwright:
                browser = open_camera_browser(playwright, y4m)
                page = browser.new_page()
                page.goto(demo.local_url)
                page.get_by_text("Click to Access Webcam").click()
                page.locator("#cam button", has_text="Record").click(timeout=60_000)
                time.sleep(args.warmup)
                before = len(calls)
                time.sleep(args.seconds)
                rate = (len(calls) - before) / args.seconds
                browser.close()
    finally:
        demo.close()
    print(f"gradio-stream: {rate:.1f} frames animated per second (stream_every 0.04 s)")
    return 0


def engine(checkpoint: str | None, args: argparse.Namespace) -> int:
    from tpsmm import load_animation_model
    from tpsmm.live import LiveAnimator
    from tpsmm.media import load_image

    model = load_animation_model(checkpoint or "demo", device=args.device, dtype=args.dtype)
    source = load_image(REPO / "src" / "tpsmm" / "assets" / "source.png")
    live = LiveAnimator(model, source, follow_face=args.face)
    pictures = camera_frames(min(args.frames, 160), CAMERA)
    side = live.input_side
    from PIL import Image

    pictures = [
        _scaled(Image.fromarray(picture), side) if args.face else picture for picture in pictures
    ]
    totals, stages = [], {stage: [] for stage in ("face", "crop", "model")}
    for index in range(args.frames):
        started = time.perf_counter()
        result = live.animate(pictures[index % len(pictures)])
        if index >= 5:  # warm-up
            totals.append(time.perf_counter() - started)
            for stage in stages:
                stages[stage].append(result.times[stage])
    median = statistics.median(totals)
    parts = ", ".join(f"{s} {statistics.median(v) * 1000:.1f}" for s, v in stages.items())
    print(
        f"engine, {checkpoint or 'demo'} ({live.size}x{live.size}, {args.dtype} on "
        f"{args.device}, face "
        f"{'followed' if args.face else 'not followed'}): median {median * 1000:.1f} ms per "
        f"frame ({1 / median:.1f} frames per second); stages in ms: {parts}"
    )
    return 0


def _scaled(image, side: int):
    import numpy as np

    ratio = min(1.0, side / max(image.size))
    return np.asarray(image.resize((round(image.width * ratio), round(image.height * ratio))))


def _percentile(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * percent / 100))]


def machine() -> str:
    import torch

    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    from tpsmm.runtime import cpu_flags

    flags = sorted(cpu_flags() & {"avx2", "avx512f", "avx512_bf16", "amx_bf16"})
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return (
        f"{cpu} ({os.cpu_count()} CPUs; {', '.join(flags)}), {platform.system()}, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}; uptime: {load}"
    )


if __name__ == "__main__":
    sys.exit(main())
