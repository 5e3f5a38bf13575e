"""The Live tab's server side: one session per browser, over a WebSocket beside the
Gradio app (``/live/ws`` on the same server and port).

Why a WebSocket: on loopback a camera frame sent as a JPEG of a few kilobytes and the
animated frame sent back cost about a millisecond each way, so the time is the
model's; Gradio's image streaming runs every frame through its queue as an event of
its own (an upload, a queued call, a server-sent event back), and WebRTC would encode
and decode video on both sides of the 2-core machine it must run on. See
``benchmarks/live_speed.py`` and ``benchmarks/RESULTS.md``.

Protocol (one WebSocket per session; the page opens it when the camera starts and
closes it when it stops or the tab closes):

- text, page to server: ``{"type": "configure", "source": {"path", "name"}, "model",
  "follow_face", "motion_scale"}`` (the source is an upload of the Gradio page, or the
  sample, named by its path on the server: checked against the upload bounds and
  prepared once; the model and face following likewise), ``{"type": "settings",
  "motion_scale"}``, ``{"type": "reset"}`` (the next frame becomes the reference);
- text, server to page: ``hello`` (the session's number), ``ready`` (the source is
  prepared; the side frames should have; ``workers``: frames the server animates at
  once), ``error`` (one line; the session stays unless it says ``closed``);
- binary both ways: a 4-byte big-endian length, that many bytes of JSON, then a
  JPEG. Page to server: ``{"seq"}`` and a camera frame; server to page: ``{"seq",
  "reference", "face", "box", "times", "dropped", "dropped_seqs"}`` and the animated
  frame (``dropped_seqs``: the frames replaced unanimated since the last answer; with
  several workers answers may come out of order, so the page learns which frames
  will never be answered). An ``error`` about one frame names its ``seq``.

Newest frame wins: each session holds at most one frame waiting; a frame that comes
while another waits replaces it (counted in ``dropped``), so a slow server answers
fewer frames and never older ones. The page sends a frame only while fewer than
:attr:`LiveServer.max_in_flight` (one more than the frames animated at once) are
unanswered, so the one waiting is rarely replaced. With one frame worker, camera
frames are decoded, prepared (the face followed, the reference taken) and animated on
the server's compute thread (:class:`tpsmm.serve.compute.ComputeThread`), which also
runs the Animate tab's requests (a session waits while one runs); on a CPU of 2 or 3
cores, that many frame workers animate them, each frame on one core
(:func:`tpsmm.serve.compute.live_frame_workers`), after a thread of their own prepared
them in the order they came. The sessions' frames are taken in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import struct
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
from PIL import Image

from tpsmm.errors import TPSMMError, first_line
from tpsmm.serve.compute import ComputeThread, one_thread_workers
from tpsmm.serve.limits import LiveLimits, check_source_image
from tpsmm.serve.service import AnimationService, best_frame_available, log, upload_name

#: The WebSocket's path on the server.
LIVE_PATH = "/live/ws"
#: The largest camera frame taken (pixels), and quality of the frames sent back.
MAX_FRAME_PIXELS = 4096 * 4096
RESULT_QUALITY = 90
_HEADER = struct.Struct(">I")


@dataclass
class Session:
    """One browser's live session."""

    number: int
    live: Any = None  # a tpsmm.live.LiveAnimator once configured
    setting: tuple = ()
    waiting: tuple[dict, bytes, float] | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    sending: asyncio.Lock = field(default_factory=asyncio.Lock)
    frames: int = 0
    dropped: int = 0
    dropped_seqs: list = field(default_factory=list)
    opened: float = field(default_factory=time.monotonic)


class LiveServer:
    """The sessions of the Live tab and their WebSocket endpoint.

    Args:
        service: the web app's models, bounds and folders.
        limits: sessions at once and idle time.
        sample: the sample image ("Use the sample"), which a session may name too.
        follow_face: whether face following is offered (the eval extra); None: when
            dlib is installed.
        compute: the thread that loaded the models (see :mod:`tpsmm.serve.compute`),
            which prepares sources and camera frames and animates them with one frame
            worker; None: one of its own, which :meth:`close` ends.
        frame_workers: frames animated at once: one (on ``compute``, on all of
            PyTorch's threads) or more, each on a worker thread of its own running one
            PyTorch thread (see :func:`tpsmm.serve.compute.live_frame_workers`; make
            the server before it takes requests: :func:`one_thread_workers`).
    """

    def __init__(
        self,
        service: AnimationService,
        limits: LiveLimits | None = None,
        *,
        sample: Path | None = None,
        follow_face: bool | None = None,
        compute: ComputeThread | None = None,
        frame_workers: int = 1,
    ):
        self.service = service
        self.limits = limits or LiveLimits()
        self.sample = sample.resolve() if sample is not None else None
        self.follow_face_available = best_frame_available() if follow_face is None else follow_face
        self.sessions: dict[int, Session] = {}
        self._numbers = itertools.count(1)
        self._closed = False
        self._owns_compute = compute is None
        self.compute = compute or ComputeThread("tpsmm-live")
        if frame_workers < 1:
            raise TPSMMError(f"frame workers must be at least 1, got {frame_workers}")
        self.frame_workers = frame_workers
        # Several workers: the sources and frames are prepared on a thread of their own
        # too, so that the Animate tab's requests on the compute thread do not hold them.
        self._renderers = self._preparer = None
        if frame_workers > 1:
            self._renderers = one_thread_workers(frame_workers, "tpsmm-live-frame")
            self._preparer = one_thread_workers(1, "tpsmm-live-prepare")

    @property
    def max_in_flight(self) -> int:
        """Frames a page may have sent and not had answered (the page's own rule): one
        for each frame worker and one on its way."""
        return self.frame_workers + 1

    def routes(self) -> list[Any]:
        """The Starlette routes to add to the web app (the WebSocket)."""
        from starlette.routing import WebSocketRoute

        return [WebSocketRoute(LIVE_PATH, self.endpoint)]

    def close(self) -> None:
        """Stop animating after the frame being animated (for the server's stop); the
        compute thread ends too if it is this server's own."""
        self._closed = True
        for pool in (self._renderers, self._preparer):
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        if self._owns_compute:
            self.compute.close()

    # The connection -----------------------------------------------------------------

    async def endpoint(self, websocket: Any) -> None:
        """One session, from the page's connection to its end."""
        if not _same_origin(websocket.headers):
            log.info("live: refused a connection from another site")
            await websocket.close(code=1008)
            return
        await websocket.accept()
        if len(self.sessions) >= self.limits.max_sessions:
            log.info("live: refused a session (%d open)", len(self.sessions))
            await _send_error(
                websocket,
                f"this server runs {self.limits.max_sessions} live sessions at a time, all "
                "taken; try again later",
                closed=True,
            )
            await websocket.close(code=1013)
            return
        session = Session(next(self._numbers))
        self.sessions[session.number] = session
        log.info("live session %d opened (%d open)", session.number, len(self.sessions))
        await websocket.send_text(json.dumps({"type": "hello", "session": session.number}))
        worker = asyncio.create_task(self._animate_frames(websocket, session))
        reason = "closed by the page"
        try:
            reason = await self._receive(websocket, session)
        finally:
            worker.cancel()
            del self.sessions[session.number]
            seconds = time.monotonic() - session.opened
            log.info(
                "live session %d %s: %d frames in %.0f s, %d dropped",
                session.number,
                reason,
                session.frames,
                seconds,
                session.dropped,
            )
        if reason != "closed by the page":
            await _send_error(websocket, f"session {reason}", closed=True)
            await websocket.close(code=1000)

    async def _receive(self, websocket: Any, session: Session) -> str:
        """Take the page's messages until it goes; returns why the session ended."""
        while True:
            try:
                message = await asyncio.wait_for(
                    websocket.receive(), timeout=self.limits.idle_seconds
                )
            except asyncio.TimeoutError:
                return f"closed after {self.limits.idle_seconds:g} s without frames"
            if message["type"] == "websocket.disconnect":
                return "closed by the page"
            if message.get("bytes") is not None:
                self._take_frame(session, message["bytes"])
            elif message.get("text") is not None:
                await self._control(websocket, session, message["text"])

    def _take_frame(self, session: Session, data: bytes) -> None:
        try:
            header, payload = unpack(data)
        except ValueError:
            return
        if session.waiting is not None:
            session.dropped += 1
            session.dropped_seqs.append(session.waiting[0].get("seq"))
        session.waiting = (header, payload, time.perf_counter())
        session.wake.set()

    async def _control(self, websocket: Any, session: Session, text: str) -> None:
        try:
            message = json.loads(text)
            kind = message.get("type")
            if kind == "configure":
                await self._configure(websocket, session, message)
            elif kind == "settings" and session.live is not None:
                session.live.motion_scale = message.get("motion_scale", 1.0)
            elif kind == "reset" and session.live is not None:
                session.live.reset()
        except TPSMMError as error:
            await _send_error(websocket, first_line(error, None))
        except (ValueError, TypeError, AttributeError):
            await _send_error(websocket, "a message the server does not understand")

    async def _configure(self, websocket: Any, session: Session, message: dict) -> None:
        source = message.get("source") or {}
        model = str(message.get("model") or self.service.models.default.name)
        follow = bool(message.get("follow_face")) and self.follow_face_available
        path = self._source_path(source.get("path"))
        setting = (path, model, follow)
        if setting != session.setting or session.live is None:
            name = str(source.get("name") or upload_name(path))
            session.live = await self._run(self._preparer, self._prepare, path, name, model, follow)
            session.setting = setting
            log.info(
                "live session %d: source %s, model %s%s",
                session.number,
                name,
                model,
                ", face followed" if follow else "",
            )
        session.live.motion_scale = message.get("motion_scale", 1.0)
        session.live.reset()
        await websocket.send_text(
            json.dumps(
                {
                    "type": "ready",
                    "size": session.live.size,
                    "input_side": session.live.input_side,
                    "follow_face": session.live.follow_face,
                    "source_face": session.live.source_face,
                    "workers": self.frame_workers,
                }
            )
        )

    def _source_path(self, text: Any) -> Path:
        """The source a page names: an upload of this server, or the sample."""
        if not text:
            raise TPSMMError("upload a source image (or pick the sample)")
        path = Path(str(text)).resolve()
        uploads = self.service.workspace.uploads.resolve()
        if path != self.sample and not path.is_relative_to(uploads):
            raise TPSMMError("the source must be an image uploaded to this page")
        return path

    def _prepare(self, path: Path, name: str, model: str, follow: bool) -> Any:
        """The session's animator: the source checked, decoded and encoded once."""
        from tpsmm.live import LiveAnimator

        served = self.service.models[model]
        image = check_source_image(path, self.service.limits, name)
        return LiveAnimator(served.model, image, follow_face=follow)

    # The frames ----------------------------------------------------------------------

    async def _animate_frames(self, websocket: Any, session: Session) -> None:
        """Animate the session's newest frame whenever there is one and a frame worker
        is free for it (at most :attr:`frame_workers` at once), and send each back."""
        free = asyncio.Semaphore(self.frame_workers)
        running: set[asyncio.Task] = set()

        def finished(task: asyncio.Task) -> None:
            running.discard(task)
            free.release()

        try:
            while True:
                await session.wake.wait()
                session.wake.clear()
                if session.waiting is None or session.live is None or self._closed:
                    continue
                await free.acquire()
                # The newest frame: it may have been replaced while every worker was busy.
                waiting, session.waiting = session.waiting, None
                if waiting is None:
                    free.release()
                    continue
                task = asyncio.create_task(self._answer(websocket, session, waiting))
                running.add(task)
                task.add_done_callback(finished)
        finally:
            for task in running:
                task.cancel()

    async def _answer(
        self, websocket: Any, session: Session, waiting: tuple[dict, bytes, float]
    ) -> None:
        """One camera frame: prepared in the order they come (on the preparing
        thread, or the compute thread with one frame worker), animated by a frame
        worker, sent back."""
        seq = waiting[0].get("seq")
        try:
            prepared = await self._run(self._preparer, self._prepare_frame, session, *waiting)
            reply, image = await self._run(self._renderers, self._render_frame, *prepared)
        except TPSMMError as error:
            await _send_error(websocket, first_line(error, None), seq=seq)
            return
        except Exception as error:  # a bug: said once in the log, the session goes on
            log.info("live session %d: %s", session.number, first_line(error))
            await _send_error(websocket, "the server failed to animate a frame", seq=seq)
            return
        session.frames += 1
        reply["dropped"] = session.dropped
        reply["dropped_seqs"], session.dropped_seqs = session.dropped_seqs, []
        async with session.sending:
            await websocket.send_bytes(pack(reply, image))

    async def _run(self, pool: ThreadPoolExecutor | None, function: Any, *args: Any) -> Any:
        """``function(*args)`` on ``pool``, or on the compute thread without one."""
        if pool is None:
            return await self.compute.call_async(function, *args)
        return await asyncio.get_running_loop().run_in_executor(pool, function, *args)

    def _prepare_frame(
        self, session: Session, header: dict, data: bytes, received: float
    ) -> tuple[dict, Any, Any, dict[str, float]]:
        """Decode a camera frame and prepare it (:meth:`LiveAnimator.prepare`); the
        animator that prepared it renders it, even if the page chose another source
        meanwhile."""
        started = time.perf_counter()
        frame = decode_jpeg(data)
        decoded = time.perf_counter()
        live = session.live
        prepared = live.prepare(frame)
        return header, live, prepared, {"wait": started - received, "decode": decoded - started}

    def _render_frame(
        self, header: dict, live: Any, prepared: Any, times: dict[str, float]
    ) -> tuple[dict, bytes]:
        """Animate a prepared frame; the answer's header (all but what it says of the
        dropped frames) and JPEG."""
        result = live.render(prepared)
        encode_started = time.perf_counter()
        image = encode_jpeg(result.image)
        times = {**times, **result.times, "encode": time.perf_counter() - encode_started}
        reply = {
            "seq": header.get("seq"),
            "reference": result.reference,
            "face": result.face,
            "box": [round(value, 1) for value in result.box],
            "times": {name: round(seconds * 1000, 2) for name, seconds in times.items()},
        }
        return reply, image


def pack(header: dict, payload: bytes) -> bytes:
    """A binary message: 4-byte big-endian length, JSON header, payload."""
    text = json.dumps(header).encode()
    return _HEADER.pack(len(text)) + text + payload


def unpack(data: bytes) -> tuple[dict, bytes]:
    """The header and payload of a binary message (ValueError when malformed)."""
    if len(data) < _HEADER.size:
        raise ValueError("message too short")
    (length,) = _HEADER.unpack_from(data)
    end = _HEADER.size + length
    if end > len(data):
        raise ValueError("header longer than the message")
    header = json.loads(data[_HEADER.size : end])
    if not isinstance(header, dict):
        raise ValueError("header is not an object")
    return header, data[end:]


def decode_jpeg(data: bytes) -> np.ndarray:
    """A camera frame (H, W, 3) uint8 from JPEG (or PNG) bytes.

    Raises:
        TPSMMError: not an image, or over :data:`MAX_FRAME_PIXELS`.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.width * image.height > MAX_FRAME_PIXELS:
                raise TPSMMError(f"a camera frame of {image.width}x{image.height} is too large")
            return np.asarray(image.convert("RGB"))
    except (OSError, ValueError, Image.DecompressionBombError):
        raise TPSMMError("a camera frame that is not an image") from None


def encode_jpeg(image: np.ndarray, quality: int = RESULT_QUALITY) -> bytes:
    """(H, W, 3) uint8 as JPEG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _same_origin(headers: Any) -> bool:
    """Whether the page that opens the WebSocket came from this server (browsers send
    its origin; a page of another site must not use a local server's sessions).
    Programs that send no origin are let in."""
    origin = headers.get("origin")
    if not origin:
        return True
    return urlparse(origin).netloc.lower() == str(headers.get("host", "")).lower()


async def _send_error(
    websocket: Any, message: str, *, closed: bool = False, seq: Any = None
) -> None:
    error = {"type": "error", "message": message, "closed": closed}
    if seq is not None:
        error["seq"] = seq
    with contextlib.suppress(Exception):  # the page has gone
        await websocket.send_text(json.dumps(error))
