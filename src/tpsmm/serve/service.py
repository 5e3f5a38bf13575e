"""The web app's work, apart from the web framework: check a request, animate it in a
folder of its own, remove the folder when the result has been delivered or the request
failed.

Everything a server writes is under one root folder made at start-up
(:func:`make_workspace`), removed when the server stops:

- ``uploads/``: the web framework's uploads and the copies of results it serves (kept
  :data:`RESULT_LIFETIME_S` seconds so the page can play and download them),
- ``requests/<id>/``: one folder per request, where the result is written; removed as
  soon as the result has been handed to the page, or the request failed,
- ``tmp/``: the process's temporary folder (``TMPDIR``), so that nothing a library
  writes lands elsewhere.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpsmm.animation.keypoints import MODES, check_mode
from tpsmm.animation.output import AnimationSummary
from tpsmm.animation.pipeline import VideoAnimator
from tpsmm.animation.progress import ProgressCallback
from tpsmm.animation.resolution import AUTO_LIMIT, check_resolution
from tpsmm.errors import MediaError, TPSMMError, first_line, named_in_errors
from tpsmm.extras import installed
from tpsmm.media import DEFAULT_FIT_MODE, check_fit_mode
from tpsmm.serve.limits import Limits, check_driving_video, check_source_image
from tpsmm.serve.models import ModelRegistry, ServedModel

#: How long the page can still play and download a result (seconds), and how often old
#: uploads and results are removed.
RESULT_LIFETIME_S = 3600
CLEANUP_INTERVAL_S = 600
#: How long a stopping server waits for the running request to end (it stops at its
#: next batch: well under a second per batch for the authors' models on a CPU).
STOP_TIMEOUT_S = 60

#: One line per request started, finished or refused (``tpsmm serve`` prints them).
log = logging.getLogger("tpsmm.serve")


@dataclass(frozen=True)
class Workspace:
    """The folders of one server (see the module's docstring)."""

    root: Path

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    @property
    def requests(self) -> Path:
        return self.root / "requests"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def remove(self) -> None:
        """Remove everything the server wrote."""
        shutil.rmtree(self.root, ignore_errors=True)


def make_workspace(parent: str | os.PathLike | None = None) -> Workspace:
    """A fresh root folder (``tpsmm-serve-*`` in ``parent``, default the system's
    temporary folder) with its three sub-folders."""
    workspace = Workspace(Path(tempfile.mkdtemp(prefix="tpsmm-serve-", dir=parent)).resolve())
    for folder in (workspace.uploads, workspace.requests, workspace.tmp):
        folder.mkdir()
    return workspace


@dataclass(frozen=True)
class AnimationRequest:
    """What the page sends.

    Attributes:
        source: the uploaded image; driving: the uploaded video (paths on the server,
            None when nothing was uploaded).
        model: a model name of the server; mode, fit: see ``tpsmm animate``.
        side_by_side: write source | driving | result; find_best_frame: faces only.
        resolution: the output's side (``tpsmm animate --resolution``, at most
            :data:`~tpsmm.animation.resolution.AUTO_LIMIT`); None: the model's size.
    """

    source: Path | None
    driving: Path | None
    model: str
    mode: str = "relative"
    fit: str = DEFAULT_FIT_MODE
    side_by_side: bool = False
    find_best_frame: bool = False
    resolution: int | None = None


@dataclass(frozen=True)
class CheckedRequest:
    """A request whose inputs passed every check: the source decoded, (H, W, 3) uint8,
    the driving video's path and its number of frames, the model."""

    request: AnimationRequest
    source: np.ndarray
    driving: Path
    frames: int
    model: ServedModel


class AnimationService:
    """Checks and runs requests for the web app.

    Args:
        models: the server's models; limits: what one request may ask for.
        workspace: where requests work (see :func:`make_workspace`).
        find_best_frame: whether ``find_best_frame`` is offered (the ``eval`` extra is
            installed); its face detector is loaded at the first request that asks.
    """

    def __init__(
        self,
        models: ModelRegistry,
        limits: Limits,
        workspace: Workspace,
        *,
        find_best_frame: bool | None = None,
    ):
        self.models = models
        self.limits = limits
        self.workspace = workspace
        self.find_best_frame_available = (
            best_frame_available() if find_best_frame is None else find_best_frame
        )
        self._landmarks = None
        self._landmarks_lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._jobs = _Jobs()

    def modes_for(self, model: str) -> list[str]:
        """The modes the named model can run (avd only with an AVD network)."""
        has_avd = self.models[model].has_avd
        return [mode for mode in MODES if mode != "avd" or has_avd]

    def check(self, request: AnimationRequest) -> CheckedRequest:
        """Every check before any work: choices, file kinds, sizes, pixels, frames.

        Raises:
            TPSMMError: one line for the page, naming uploads by their own names.
        """
        try:
            return self._check(request)
        except TPSMMError as error:
            log.info("refused: %s", first_line(error))
            raise

    def _check(self, request: AnimationRequest) -> CheckedRequest:
        if self._jobs.stopping:
            raise TPSMMError("the server is stopping; try again when it is back")
        served = self.models[request.model]
        check_mode(request.mode)
        check_fit_mode(request.fit)
        resolution = check_resolution(request.resolution)
        if isinstance(resolution, str) or (resolution or 0) > AUTO_LIMIT:
            raise TPSMMError(
                f"resolution must be a whole number of pixels up to {AUTO_LIMIT} on this "
                f"server, got {request.resolution!r}"
            )
        if request.mode not in self.modes_for(request.model):
            raise TPSMMError(
                f"model {served.name} has no AVD network; choose the relative or standard mode"
            )
        if request.find_best_frame and not self.find_best_frame_available:
            raise TPSMMError(
                "find best frame needs the eval extra on the server: pip install 'tpsmm[eval]'"
            )
        if request.source is None:
            raise MediaError("upload a source image (or pick the sample)")
        if request.driving is None:
            raise MediaError("upload a driving video (or pick the sample)")
        source_name, driving_name = upload_name(request.source), upload_name(request.driving)
        with named_in_errors(request.source, source_name):
            source = check_source_image(request.source, self.limits, source_name)
        with named_in_errors(request.driving, driving_name):
            frames = check_driving_video(request.driving, self.limits, driving_name)
        return CheckedRequest(request, source, request.driving, frames, served)

    @contextmanager
    def request_folder(self) -> Iterator[Path]:
        """A folder of the request's own, removed when the block ends (delivered or
        failed)."""
        folder = Path(tempfile.mkdtemp(prefix="request-", dir=self.workspace.requests))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def animate(
        self,
        checked: CheckedRequest,
        folder: Path,
        on_progress: ProgressCallback | None = None,
        *,
        session: str | None = None,
    ) -> AnimationSummary:
        """Animate a checked request into ``folder`` (an MP4 named after the inputs,
        H.264 at the driving video's frame rate with its audio).

        ``session`` names the page that asked (:meth:`cancel` stops its requests).

        Raises:
            Cancelled: :meth:`cancel` or :meth:`stop` stopped it (the partial output is
                removed).
        """
        request = checked.request
        number = next(self._numbers)
        output = folder / result_name(request.source, request.driving)
        log.info(
            "request %d started: %s by %s (%d frames), model %s, %s",
            number,
            upload_name(request.source),
            upload_name(request.driving),
            checked.frames,
            checked.model.name,
            request.mode,
        )
        try:
            with self._jobs.running(session) as job:
                summary = self._write(checked, output, job.checked(on_progress))
        except Cancelled as cancelled:
            log.info("request %d cancelled: %s", number, cancelled)
            raise
        except BaseException as error:
            log.info("request %d failed: %s", number, first_line(error))
            raise
        log.info("request %d finished: %s, %.1f s", number, summary.details(), summary.seconds)
        return summary

    def cancel(self, session: str | None) -> None:
        """Stop the requests of page ``session`` (closed) at their next batch."""
        if session is not None:
            self._jobs.cancel(session, "the page was closed")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Refuse new requests, stop the running ones at their next batch and wait up to
        ``timeout`` seconds for them to end; returns whether none runs any more."""
        return self._jobs.stop(timeout)

    def _write(
        self, checked: CheckedRequest, output: Path, on_progress: ProgressCallback | None
    ) -> AnimationSummary:
        request = checked.request
        with named_in_errors(checked.driving, upload_name(checked.driving)):
            animator = VideoAnimator(
                checked.model.model,
                checked.source,
                mode=request.mode,
                fit=request.fit,
                resolution=request.resolution,
            )
            return animator.write(
                checked.driving,
                output,
                side_by_side=request.side_by_side,
                find_best_frame=request.find_best_frame,
                max_frames=self.limits.max_frames,
                landmarks=self.landmarks() if request.find_best_frame else None,
                on_progress=on_progress,
            )

    def landmarks(self):
        """The face landmark detector, loaded once, at the first request that needs it."""
        with self._landmarks_lock:
            if self._landmarks is None:
                from tpsmm.faces import DlibLandmarks

                self._landmarks = DlibLandmarks(needed_by="find best frame")
            return self._landmarks


class Cancelled(TPSMMError):
    """A request stopped before its end: its page was closed, or the server stops."""


class _Job:
    """One running request: a flag its progress callback checks after every batch."""

    def __init__(self, session: str | None):
        self.session = session
        self.reason: str | None = None

    def checked(self, on_progress: ProgressCallback | None) -> ProgressCallback:
        """``on_progress`` behind a check that raises :class:`Cancelled` once asked."""

        def progress(stage: str, done: int, total: int | None) -> None:
            if self.reason is not None:
                raise Cancelled(self.reason)
            if on_progress is not None:
                on_progress(stage, done, total)

        return progress


class _Jobs:
    """The running requests, to cancel them by page and to wait for them at the end."""

    def __init__(self) -> None:
        self._jobs: list[_Job] = []
        self._changed = threading.Condition()
        self.stopping = False

    @contextmanager
    def running(self, session: str | None) -> Iterator[_Job]:
        job = _Job(session)
        with self._changed:
            if self.stopping:
                raise Cancelled("the server is stopping")
            self._jobs.append(job)
        try:
            yield job
        finally:
            with self._changed:
                self._jobs.remove(job)
                self._changed.notify_all()

    def cancel(self, session: str, reason: str) -> None:
        with self._changed:
            for job in self._jobs:
                if job.session == session:
                    job.reason = reason

    def stop(self, timeout: float) -> bool:
        with self._changed:
            self.stopping = True
            for job in self._jobs:
                job.reason = "the server is stopping"
            return self._changed.wait_for(lambda: not self._jobs, timeout)


def best_frame_available() -> bool:
    """Whether the face landmarks of ``find_best_frame`` can run here (the eval extra)."""
    return installed("dlib")


def upload_name(path: Path | None) -> str:
    """How the page names an upload: its file name (the web framework keeps the
    uploader's name in a folder of its own)."""
    return path.name if path is not None else ""


def result_name(source: Path | None, driving: Path | None) -> str:
    """``tpsmm-<source>-<driving>.mp4``, from the uploads' names in safe characters."""
    parts = [_safe_stem(path) for path in (source, driving) if path is not None]
    return "-".join(["tpsmm", *parts]) + ".mp4"


def _safe_stem(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path.name).stem).strip("_")
    return stem[:40] or "upload"
