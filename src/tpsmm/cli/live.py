"""``tpsmm live``: animate a still image by a camera, in real time.

Frames come from a camera device, a stream URL or a file played at its own rate
(:mod:`tpsmm.live.camera`: the newest frame first, frames dropped when the animation is
behind); each is animated in relative mode against the first frame (press Enter to
take a new reference) and goes to a virtual camera (``--virtual-camera``, the ``live``
extra) and/or a recording (``--output``), with the times the frames were made.
Ctrl-C, SIGTERM and SIGHUP end it as every command ends; the recording made so far is
finished and kept.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tpsmm import signals
from tpsmm.cli.options import add_device_argument, add_dtype_argument
from tpsmm.errors import TPSMMError

EPILOG = """\
cameras (--camera):
  /dev/video0 or 0       a camera on Linux (v4l2); 0 or a name on macOS (avfoundation);
                         NAME or video=NAME on Windows (dshow); --camera-format another
                         FFmpeg input device
  rtsp://... http://...  a network stream
  FILE                   a video file, played at its own rate (as a camera would show it)

  The newest camera frame is animated: frames that come while one is being animated
  are dropped, never queued, so the delay stays that of one frame however slow the
  computer; the closing line says how many were dropped.

examples:
  tpsmm live --source photo.jpg --camera /dev/video0 --virtual-camera --crop-face
  tpsmm live --source photo.jpg --camera talk.mp4 --output live.mp4
"""


def register(subparsers: Any) -> None:
    """Add ``live`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "live",
        help="animate a photo by a camera in real time (virtual camera, recording)",
        description=(
            "Animate a still image by a camera, a stream or a file played in real time,\n"
            "and send the result to a virtual camera (for video calls) and/or record it."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--source", required=True, metavar="IMAGE", help="the still image")
    parser.add_argument(
        "--camera", required=True, metavar="DEVICE|URL|FILE", help="where frames come from"
    )
    parser.add_argument(
        "--output", "-o", metavar="FILE", help="record the result (.mp4, .mkv, .gif, a folder)"
    )
    parser.add_argument(
        "--virtual-camera",
        action="store_true",
        help="send the result to a virtual camera (pyvirtualcam: pip install 'tpsmm[live]'; "
        "v4l2loopback on Linux, OBS's virtual camera on Windows and macOS)",
    )
    parser.add_argument(
        "--crop-face",
        action="store_true",
        help="cut the source around its face and follow the face in the camera picture, "
        "as squares with the authors' training margin (dlib, the eval extra)",
    )
    parser.add_argument(
        "--motion-scale",
        type=float,
        default=1.0,
        metavar="X",
        help="multiply the motion since the reference frame (0 still, 1 as driven; default 1)",
    )
    parser.add_argument(
        "--seconds", type=float, metavar="S", help="stop after this many seconds (default: never)"
    )
    camera = parser.add_argument_group("camera")
    camera.add_argument(
        "--camera-format",
        metavar="FORMAT",
        help="FFmpeg's input device (default: v4l2 on Linux, avfoundation on macOS, dshow on "
        "Windows)",
    )
    camera.add_argument("--camera-size", metavar="WxH", help="ask the camera for this size")
    camera.add_argument("--camera-fps", type=float, metavar="N", help="ask for this rate")
    model = parser.add_argument_group("model")
    model.add_argument(
        "--checkpoint",
        metavar="FILE",
        default="demo",
        help="the model (default: the bundled demo model)",
    )
    model.add_argument("--config", metavar="NAME|YAML", help="the checkpoint's config")
    add_device_argument(model)
    add_dtype_argument(model)
    parser.set_defaults(func=run)


def parse_size(text: str | None) -> tuple[int, int] | None:
    """``"640x480"`` -> (640, 480); None stays None."""
    if text is None:
        return None
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or "0" in (width, height):
        raise TPSMMError(f"--camera-size must be WIDTHxHEIGHT, e.g. 640x480, got {text!r}")
    return int(width), int(height)


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm live`` until the camera ends, ``--seconds`` pass or a signal."""
    from tpsmm import load_animation_model
    from tpsmm.animation.keypoints import check_motion_scale
    from tpsmm.live.camera import Camera, camera_input
    from tpsmm.live.engine import FrameStats, LiveAnimator
    from tpsmm.live.outputs import Recording, VirtualCamera, check_virtual_camera_extra
    from tpsmm.media import check_output, load_image

    if not args.output and not args.virtual_camera:
        raise TPSMMError("nowhere to send the frames: give --output FILE and/or --virtual-camera")
    check_motion_scale(args.motion_scale)
    if args.seconds is not None and not args.seconds > 0:
        raise TPSMMError(f"--seconds must be positive, got {args.seconds}")
    source_input = camera_input(
        args.camera,
        input_format=args.camera_format,
        size=parse_size(args.camera_size),
        fps=args.camera_fps,
    )
    if args.output:
        check_output(args.output)
    if args.virtual_camera:
        check_virtual_camera_extra()
    image = load_image(args.source)
    model = load_animation_model(args.checkpoint, args.config, device=args.device, dtype=args.dtype)
    live = LiveAnimator(model, image, motion_scale=args.motion_scale, follow_face=args.crop_face)
    if args.crop_face and not live.source_face:
        raise TPSMMError(
            f"{args.source}: no face found in the source image (--crop-face needs a frontal "
            "face; crop the image yourself and leave out --crop-face)"
        )
    stats = FrameStats()
    recording = virtual = None
    with Camera(source_input, max_side=live.input_side) as camera:
        try:
            if args.virtual_camera:
                virtual = VirtualCamera(live.size, camera.rate or 30)
                print(f"tpsmm live: virtual camera {virtual.device}", file=sys.stderr)
            if args.output:
                recording = Recording(Path(args.output), camera.rate)
            _watch_enter(live)
            _animate(camera, live, stats, recording, virtual, args.seconds)
        except KeyboardInterrupt as interrupt:
            if recording is not None:
                recording.close()
            interrupt.detail = _summary(camera, stats, recording)  # type: ignore[attr-defined]
            raise
        except BaseException:
            if recording is not None:
                recording.abort()
            raise
        finally:
            if virtual is not None:
                virtual.close()
        if recording is not None:
            recording.close()
        if camera.error:
            print(f"tpsmm live: {camera.error}", file=sys.stderr)
        print(f"tpsmm live: {_summary(camera, stats, recording)}")
    return 0


def _animate(camera, live, stats, recording, virtual, seconds: float | None) -> None:
    """Animate the newest camera frame, send it on, until the end."""
    started = time.monotonic()
    for frame, captured in camera:
        result = live.animate(frame)
        made = time.monotonic()
        # A signal during the write would leave half a frame in the encoder and the
        # recording discarded; it is raised once the frame is written and counted.
        with signals.deferred():
            if recording is not None:
                recording.write(result.image, made)
            if virtual is not None:
                virtual.send(result.image)
            stats.add(made - captured)
        if seconds is not None and made - started >= seconds:
            break


def _summary(camera, stats, recording) -> str:
    """``120 frames, 14.8 frames per second, median latency 61 ms, 30 camera frames
    dropped; recorded to out.mp4``."""
    rate, latency = stats.overall()
    text = f"{stats.count} frames, {rate:.1f} frames per second"
    if latency is not None:
        text += f", median latency {latency * 1000:.0f} ms"
    text += f", {camera.slot.dropped} camera frames dropped"
    if recording is not None and recording.saved:
        text += f"; recorded to {recording.path}"
    return text


def _watch_enter(live) -> None:
    """On a terminal, Enter takes the next frame as the new reference."""
    if not sys.stdin or not sys.stdin.isatty():
        return

    def watch() -> None:
        for _ in sys.stdin:
            live.reset()
            print("tpsmm live: new reference", file=sys.stderr)

    threading.Thread(target=watch, name="tpsmm-live-enter", daemon=True).start()
    print("tpsmm live: press Enter to take a new reference, Ctrl-C to stop", file=sys.stderr)
