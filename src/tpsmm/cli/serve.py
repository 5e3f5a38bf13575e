"""``tpsmm serve``: the web app (Gradio, the ``web`` extra), on 127.0.0.1 by default.

Checks the options, imports Gradio (one line saying how to install it when missing),
loads every model once, and serves until Ctrl-C or SIGTERM. Everything the server writes
is under one temporary folder, removed when it stops (see :mod:`tpsmm.serve.service`).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tpsmm.cli.options import add_device_argument, add_dtype_argument
from tpsmm.errors import TPSMMError
from tpsmm.runtime import resolve_device, resolve_precision
from tpsmm.serve.limits import (
    DEFAULT_LIVE_IDLE_SECONDS,
    DEFAULT_LIVE_SESSIONS,
    DEFAULT_MAX_FRAMES,
    DEFAULT_MAX_IMAGE_PIXELS,
    DEFAULT_MAX_UPLOAD_MB,
    Limits,
    LiveLimits,
)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860

EPILOG = f"""\
models:
  The bundled demo model is listed first and is the default; each --checkpoint adds
  one, named after its file (vox.pth.tar -> vox) or as given (--checkpoint vox=FILE).
  Every model is loaded once at start-up and kept.

limits (a request over one is refused with a message in the page, before any work):
  --max-upload-mb    each uploaded file (default {DEFAULT_MAX_UPLOAD_MB:g} MB)
  --max-frames       the driving video's length (default {DEFAULT_MAX_FRAMES} frames)
  --max-image-pixels the source image, width x height (default {DEFAULT_MAX_IMAGE_PIXELS:,})
  One animation runs at a time; up to 16 more requests wait in the queue.

live (the Live tab):
  The browser's camera animates the photo in real time, over a WebSocket on the same
  port (/live/ws). --live-sessions tabs at once (default {DEFAULT_LIVE_SESSIONS}; 0: no Live tab), each
  closed after --live-idle seconds without frames (default {DEFAULT_LIVE_IDLE_SECONDS:g}). Browsers give a page
  the camera only over https or on this machine's own address (127.0.0.1, localhost).
  --live-workers frames animated at once (default auto: one per core, each on one
  PyTorch thread, on 2 or 3 cores; one frame at a time on all cores otherwise).

files:
  Uploads, results and each request's folder live under one temporary folder
  (tpsmm-serve-*), removed when the server stops; a request's folder is removed as
  soon as its result has been delivered or it failed, the served copies of uploads
  and results after an hour. Nothing is written elsewhere, and nothing is fetched
  from the network.
"""


def register(subparsers: Any) -> None:
    """Add ``serve`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "serve",
        help="the web app: upload a photo and a video, watch the result",
        description=(
            "Serve a web page where people upload a still image and a driving video (or\n"
            "pick the bundled sample), choose the model, mode and fit, follow the progress\n"
            "and watch or download the result with its sound; and a Live tab where their\n"
            "camera animates the image in real time. Needs the web extra:\n"
            "pip install 'tpsmm[web]'."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    server = parser.add_argument_group("server")
    server.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"the address to listen on (default {DEFAULT_HOST}: this machine only; "
        "0.0.0.0 for every network the machine is on)",
    )
    server.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"the port (default {DEFAULT_PORT})"
    )
    model = parser.add_argument_group("models")
    model.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="[NAME=]FILE",
        help="a checkpoint to offer besides the bundled demo model (the authors' .pth.tar "
        "or a tpsmm checkpoint); repeat for several",
    )
    model.add_argument(
        "--config",
        metavar="NAME|YAML",
        help="the config of the --checkpoint files (default: each file's own)",
    )
    add_device_argument(model)
    add_dtype_argument(model)
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--max-upload-mb",
        type=float,
        default=DEFAULT_MAX_UPLOAD_MB,
        metavar="MB",
        help=f"the largest uploaded file in megabytes (default {DEFAULT_MAX_UPLOAD_MB:g})",
    )
    limits.add_argument(
        "--max-frames",
        type=int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help=f"the longest driving video in frames (default {DEFAULT_MAX_FRAMES})",
    )
    limits.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_IMAGE_PIXELS,
        metavar="N",
        help=f"the largest source image, width x height (default {DEFAULT_MAX_IMAGE_PIXELS})",
    )
    live = parser.add_argument_group("live (the Live tab)")
    live.add_argument(
        "--live-sessions",
        type=int,
        default=DEFAULT_LIVE_SESSIONS,
        metavar="N",
        help="browsers animated from their camera at once (default "
        f"{DEFAULT_LIVE_SESSIONS}; 0: no Live tab)",
    )
    live.add_argument(
        "--live-idle",
        type=float,
        default=DEFAULT_LIVE_IDLE_SECONDS,
        metavar="SECONDS",
        help="close a live session after this many seconds without frames "
        f"(default {DEFAULT_LIVE_IDLE_SECONDS:g})",
    )
    live.add_argument(
        "--live-workers",
        default="auto",
        metavar="N",
        help="live frames animated at once (default auto: one per core on 2 or 3 cores, "
        "one at a time on all cores otherwise)",
    )
    parser.set_defaults(func=run)


def limits_from_args(args: argparse.Namespace) -> Limits:
    """The limits of the options, checked (one-line errors)."""
    if not args.max_upload_mb > 0:
        raise TPSMMError(f"--max-upload-mb must be positive, got {args.max_upload_mb}")
    for flag, value in (
        ("--max-frames", args.max_frames),
        ("--max-image-pixels", args.max_image_pixels),
    ):
        if value < 1:
            raise TPSMMError(f"{flag} must be a positive whole number, got {value}")
    return Limits.from_options(args.max_upload_mb, args.max_frames, args.max_image_pixels)


def live_limits_from_args(args: argparse.Namespace) -> LiveLimits:
    """The Live tab's bounds of the options, checked (one-line errors)."""
    if args.live_sessions < 0:
        raise TPSMMError(f"--live-sessions must be 0 or more, got {args.live_sessions}")
    if not args.live_idle > 0:
        raise TPSMMError(f"--live-idle must be positive, got {args.live_idle}")
    return LiveLimits(args.live_sessions, args.live_idle)


def live_workers_from_args(args: argparse.Namespace) -> int:
    """``--live-workers``: a positive whole number, or ``auto``
    (:func:`tpsmm.serve.compute.live_frame_workers` of PyTorch's thread count)."""
    import torch

    from tpsmm.serve.compute import live_frame_workers

    if args.live_workers == "auto":
        return live_frame_workers(torch.get_num_threads())
    try:
        workers = int(args.live_workers)
    except ValueError:
        workers = 0
    if workers < 1:
        raise TPSMMError(
            f"--live-workers must be a positive whole number or auto, got {args.live_workers}"
        )
    return workers


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm serve`` until interrupted; returns the exit status."""
    from tpsmm.cli.demo import sample_paths
    from tpsmm.serve.app import build_app, check_web_extra, launch
    from tpsmm.serve.compute import ComputeThread
    from tpsmm.serve.live import LiveServer
    from tpsmm.serve.models import ModelRegistry
    from tpsmm.serve.service import AnimationService, make_workspace

    limits = limits_from_args(args)
    live_limits = live_limits_from_args(args)
    live_workers = live_workers_from_args(args)
    if not 0 < args.port < 65536:
        raise TPSMMError(f"--port must be 1..65535, got {args.port}")
    resolve_precision(args.dtype, resolve_device(args.device))
    check_web_extra()
    workspace = make_workspace()
    _log_requests()
    # The models are loaded and the requests animated on one thread (see its module).
    compute = ComputeThread()
    try:
        with _confined(workspace.tmp), sample_paths() as sample:
            models = compute.call(
                ModelRegistry.load,
                args.checkpoint,
                config=args.config,
                device=args.device,
                dtype=args.dtype,
            )
            service = AnimationService(models, limits, workspace)
            live = None
            if live_limits.max_sessions:
                live = LiveServer(
                    service,
                    live_limits,
                    sample=sample[0],
                    compute=compute,
                    frame_workers=live_workers,
                )
            app = build_app(service, sample, live, compute)
            try:
                launch(
                    app,
                    service,
                    host=args.host,
                    port=args.port,
                    block=False,
                    allowed_paths=[str(sample[0].parent), str(sample[1].parent)],
                    live=live,
                )
            except OSError as error:
                raise TPSMMError(f"cannot listen on {args.host}:{args.port}: {error}") from None
            url = f"http://{_url_host(args.host)}:{app.server_port}/"
            print(f"tpsmm serve: serving on {url} (Ctrl-C to stop)", flush=True)
            for served in models:
                print(f"  model {served.describe()}", flush=True)
            print(f"  limits: {limits.describe()}", flush=True)
            print(f"  {live_limits.describe()}", flush=True)
            try:  # Ctrl-C or SIGTERM (tpsmm.signals) ends it: one line, status 130 or 143
                while app.is_running:
                    time.sleep(0.2)
            finally:
                # The running request stops at its next batch: the process must not
                # exit while its thread is inside torch (the C++ runtime would abort).
                # Signals that come meanwhile are held back; a third ends it at once.
                service.stop()
                app.close()
                if live is not None:
                    live.close()
    finally:
        compute.close()
        workspace.remove()
    return 0


def _log_requests() -> None:
    """The service's lines about each request on stdout, timed."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s tpsmm serve: %(message)s", "%H:%M:%S"))
    logger = logging.getLogger("tpsmm.serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _url_host(host: str) -> str:
    """The host part of the URL people open (``0.0.0.0`` is reached as 127.0.0.1)."""
    if host in ("0.0.0.0", "::", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@contextmanager
def _confined(folder: Path) -> Iterator[None]:
    """Make ``folder`` the process's temporary folder (``tempfile`` and ``TMPDIR``) and,
    unless the user has chosen one, matplotlib's config and cache folder
    (``MPLCONFIGDIR``, a ``matplotlib`` folder in it): Gradio and MediaPipe import
    matplotlib, which would otherwise write its font cache to ``~/.cache/matplotlib``
    and ``~/.config/matplotlib``. Entered before the libraries are imported; the
    environment is put back when the block ends."""
    saved = tempfile.tempdir, {name: os.environ.get(name) for name in _CONFINED_ENV}
    tempfile.tempdir = str(folder)
    os.environ["TMPDIR"] = str(folder)
    os.environ.setdefault("MPLCONFIGDIR", str(folder / "matplotlib"))
    try:
        yield
    finally:
        tempfile.tempdir = saved[0]
        for name, value in saved[1].items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


#: The environment variables :func:`_confined` sets.
_CONFINED_ENV = ("TMPDIR", "MPLCONFIGDIR")
