"""Animating one source image by camera frames as they come, one frame at a time.

:class:`LiveAnimator` does the per-source work once (the source's keypoints and
features: :class:`tpsmm.Animator`) and then animates each camera frame in relative
mode against a reference frame: the first frame it animates, and again the first one
after :meth:`LiveAnimator.reset` (the user re-centres, as avatarify's calibration
does). With ``follow_face`` the source is cropped around its face and each camera frame
around the driver's face (:class:`tpsmm.live.follow.FaceFollower`); otherwise both are
cut to their centre square (the ``crop`` fit).

Used by the web app's Live tab (:mod:`tpsmm.serve.live`) and by ``tpsmm live``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from tpsmm.animation.animator import as_backend
from tpsmm.animation.backend import AnimationBackend
from tpsmm.animation.keypoints import check_motion_scale
from tpsmm.errors import TPSMMError
from tpsmm.faces.crop import CropBox, crop_frame
from tpsmm.media import FrameFitter, fit_frame, to_uint8

#: The longest side of camera frames worth sending for a model of frame size S when the
#: face is followed: the face's crop then holds about S pixels (the crop is about 0.6 of
#: the picture's height for a face at arm's length), and detection runs on few pixels.
INPUT_SIDE_PER_FRAME = 2.5
MIN_INPUT_SIDE = 320
#: Frames whose latency and times :class:`FrameStats` keeps.
STATS_WINDOW = 300


@dataclass
class LiveFrame:
    """One animated frame.

    Attributes:
        image: (S, S, 3) uint8, the animated source.
        reference: whether this camera frame became the reference.
        face: whether the driver's face was found in it (None: not followed).
        box: the crop of the camera frame the model saw (l, t, r, b pixels).
        times: seconds spent per stage (``face``, ``crop``, ``reference`` when this
            frame became the reference, ``model``).
    """

    image: np.ndarray
    reference: bool
    face: bool | None
    box: tuple[float, float, float, float]
    times: dict[str, float] = field(default_factory=dict)


@dataclass
class PreparedFrame:
    """A camera frame ready for the model (:meth:`LiveAnimator.prepare`).

    Attributes:
        driving: (S, S, 3) uint8, the crop the model sees.
        reference, face, box, times: as in :class:`LiveFrame` (``times`` so far).
    """

    driving: np.ndarray
    reference: bool
    face: bool | None
    box: tuple[float, float, float, float]
    times: dict[str, float] = field(default_factory=dict)


class LiveAnimator:
    """Animates ``source`` by camera frames, one at a time (see the module docstring).

    Args:
        model: a :class:`tpsmm.TPSMM` or another animation backend.
        source: (H, W, 3) uint8, any size.
        motion_scale: the motion since the reference is multiplied by this.
        follow_face: crop the source and the camera frames around the faces (the
            ``eval`` extra).
        finder: the face detector for ``follow_face`` (the process's shared one).
        clock: seconds, for the face crop's smoothing (``time.monotonic``).

    Raises:
        TPSMMError: a bad motion scale, or ``follow_face`` without the eval extra.
    """

    def __init__(
        self,
        model: object,
        source: np.ndarray,
        *,
        motion_scale: float = 1.0,
        follow_face: bool = False,
        finder: object | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.backend: AnimationBackend = as_backend(model)
        self.size = self.backend.frame_size
        self.clock = clock
        if source.dtype != np.uint8 or source.ndim != 3 or source.shape[2] != 3:
            raise TPSMMError(f"source image must be (H, W, 3) uint8, got {source.shape}")
        self.follower = None
        self.source_face = False
        source_box = None
        if follow_face:
            from tpsmm.faces.tracking import find_face
            from tpsmm.live.follow import FaceFollower

            self.follower = FaceFollower(finder)  # type: ignore[arg-type]
            source_box = _face_crop(source, find_face(source, self.follower.finder))
            self.source_face = source_box is not None
        self.source = (
            crop_frame(source, source_box, self.size)
            if source_box is not None
            else fit_frame(source, self.size, "crop")
        )
        self.animator = self.backend.animator(self.source, "relative")
        self.motion_scale = motion_scale
        self._needs_reference = True
        self._framing: str | None = None
        self._fitter: FrameFitter | None = None

    @property
    def follow_face(self) -> bool:
        """Whether the driver's face is followed."""
        return self.follower is not None

    @property
    def input_side(self) -> int:
        """The longest side camera frames need (larger ones may be scaled down to it
        before they are sent): the model's size when frames are cut to their centre,
        more when the face is followed (see :data:`INPUT_SIDE_PER_FRAME`)."""
        if self.follower is None:
            return self.size
        return max(MIN_INPUT_SIDE, round(INPUT_SIDE_PER_FRAME * self.size))

    @property
    def motion_scale(self) -> float:
        return self._motion_scale

    @motion_scale.setter
    def motion_scale(self, value: float) -> None:
        self._motion_scale = check_motion_scale(value)
        self.animator.motion_scale = self._motion_scale  # type: ignore[attr-defined]

    def reset(self) -> None:
        """Take the next frame as the reference."""
        self._needs_reference = True

    def animate(self, frame: np.ndarray) -> LiveFrame:
        """Animate the source by one camera frame (H, W, 3) uint8."""
        return self.render(self.prepare(frame))

    def prepare(self, frame: np.ndarray) -> PreparedFrame:
        """The first half of :meth:`animate`: the driver's face followed, the camera frame
        cut to the model's input, and the reference taken when one is due. Call it for
        the frames in the order they come, one at a time."""
        times: dict[str, float] = {}
        with _timed(times, "face"):
            box = self._crop_box(frame)
        with _timed(times, "crop"):
            if box is None:
                fitter = self._centre_fitter(frame)
                driving, bounds = fitter(frame), tuple(map(float, fitter.box))
            else:
                driving = crop_frame(frame, box, self.size)
                bounds = box.bounds
        # A change of framing (the face found at last, or lost for good) is a new start.
        framing = "face" if box is not None else "centre"
        if framing != self._framing:
            self._framing, self._needs_reference = framing, True
        reference = self._needs_reference
        if reference:
            with _timed(times, "reference"):  # replaces the old one at once
                self.animator.set_reference(driving)
            self._needs_reference = False
        face = None if self.follower is None else self.follower.found
        return PreparedFrame(driving, reference, face, bounds, times)

    def render(self, prepared: PreparedFrame) -> LiveFrame:
        """The second half of :meth:`animate`: the model's frame. Frames prepared in turn
        may be rendered at the same time, on several threads."""
        times = dict(prepared.times)
        with _timed(times, "model"):
            image = to_uint8(self.animator.animate(prepared.driving[None])[0])
        return LiveFrame(image, prepared.reference, prepared.face, prepared.box, times)

    def _centre_fitter(self, frame: np.ndarray) -> FrameFitter:
        """The centre square's fitter for frames of this one's size (kept while the
        camera's size stays)."""
        size = (frame.shape[1], frame.shape[0])
        if self._fitter is None or self._fitter.frame_size != size:
            self._fitter = FrameFitter(size, self.size, "crop")
        return self._fitter

    def _crop_box(self, frame: np.ndarray) -> CropBox | None:
        if self.follower is None:
            return None
        return self.follower.update(frame, self.clock())


def _face_crop(image: np.ndarray, pose: object | None) -> CropBox | None:
    """The ``--crop-face`` crop of the face at ``pose`` in ``image``, or None."""
    if pose is None:
        return None
    from tpsmm.faces.crop import crop_for_pose, fit_inside

    return fit_inside(crop_for_pose(pose), image.shape[1], image.shape[0])  # type: ignore[arg-type]


@contextmanager
def _timed(times: dict[str, float], name: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        times[name] = times.get(name, 0.0) + time.perf_counter() - started


class FrameStats:
    """Frames shown and their latency over the last second, as the page shows them.

    :meth:`add` each frame as it is shown, with its latency (seconds from capture);
    :meth:`rate` and :meth:`median_latency` cover the frames of the last ``window``
    seconds; :attr:`count` and :meth:`overall` all frames.
    """

    def __init__(self, window: float = 1.0, clock: Callable[[], float] = time.monotonic):
        self.window = window
        self.clock = clock
        self.recent: deque[tuple[float, float]] = deque()
        self.latencies: deque[float] = deque(maxlen=STATS_WINDOW)
        self.count = 0
        self.started: float | None = None

    def add(self, latency: float) -> None:
        now = self.clock()
        if self.started is None:
            self.started = now
        self.count += 1
        self.recent.append((now, latency))
        self.latencies.append(latency)
        self._forget(now)

    def _forget(self, now: float) -> None:
        while self.recent and self.recent[0][0] <= now - self.window:
            self.recent.popleft()

    def rate(self) -> float:
        """Frames per second over the last window."""
        self._forget(self.clock())
        return len(self.recent) / self.window

    def median_latency(self) -> float | None:
        """The median latency (seconds) of the last window's frames; None without any."""
        self._forget(self.clock())
        return float(np.median([latency for _, latency in self.recent])) if self.recent else None

    def overall(self) -> tuple[float, float | None]:
        """(frames per second since the first frame, the median latency of the last
        :data:`STATS_WINDOW` frames)."""
        if self.started is None or self.count < 2:
            return 0.0, None
        elapsed = self.clock() - self.started
        rate = (self.count - 1) / elapsed if elapsed > 0 else 0.0
        return rate, float(np.median(self.latencies))
