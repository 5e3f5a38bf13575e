"""Finding a face and following it through a video, offline, with dlib
(:class:`tpsmm.faces.FaceAnalyzer`).

Detection is dlib's HOG face detector, run where it is most reliable: on an image
scaled so that the face is about :data:`DETECTION_FACE` pixels wide (measured on the
bundled video: 169 of 169 frames found at that size, 153 of 169 with the face at
twice that size; see ``benchmarks/face_tracking.py``). A face of unknown size (the
source image, a lost face) is searched for at several scales; a face being followed
is searched for only around where it was, at the scale that brings it to that width,
which makes following a face in a 1080x1920 video about as fast as in a 256x256 one.
The 68-point shape predictor then places the landmarks on the full-resolution frame,
and the face's position and size are taken from its rigid points
(:func:`tpsmm.faces.crop.face_pose`).

:class:`FaceTrack` holds one pose per frame (NaN where no face was found) and the
segments of the video (a new one at a shot change or where the face jumps);
:func:`smooth_poses` turns it into one smoothed square crop per frame.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tpsmm.errors import TPSMMError
from tpsmm.faces.analyzer import FaceAnalyzer
from tpsmm.faces.box import FaceBox
from tpsmm.faces.crop import CropBox, FacePose, crop_for_pose, face_pose, fit_inside

#: The width (pixels) the HOG detector's box has at the scale detection runs at.
DETECTION_FACE = 90
#: HOG box width / face scale (RMS distance of the rigid landmarks from their centre):
#: 4.9 on the bundled video (median of 169 frames).
BOX_TO_SCALE = 4.9
#: The smallest face searched for in a whole frame, as a fraction of its shorter side.
SMALLEST_FACE = 0.06
#: Around a followed face, the search region is this many HOG boxes wide.
SEARCH_REGION = 3.0
#: While the face is lost, the whole frame is searched every this many frames.
REACQUIRE_EVERY = 5
#: A face whose centre moves more than this many face scales from one frame to the
#: next, or whose scale changes by more than this factor, starts a new segment.
JUMP_SCALES = 2.0
JUMP_SIZE = 1.4
#: Colour histograms of consecutive frames that differ by more than this (L1 distance
#: of normalised histograms, 0..2) mark a shot change.
CUT_DISTANCE = 0.6
#: Width of the running median taken before the Gaussian (frames, odd).
MEDIAN_FRAMES = 5
#: Default smoothing of the crop boxes over time (Gaussian sigma, seconds).
SMOOTHING_SECONDS = 0.12


class FaceFinder:
    """dlib's HOG face detector and 68-point shape predictor (:class:`FaceAnalyzer`),
    with detection run at the scale where the detector works best.

    Raises:
        TPSMMError: the ``eval`` extra is missing.
    """

    def __init__(self, analyzer: FaceAnalyzer | None = None) -> None:
        self.analyzer = analyzer or FaceAnalyzer(upsample=0, needed_by="--crop-face")
        self.analyzer.load()

    def detect(
        self, image: np.ndarray, scale: float, region: tuple[int, int, int, int] | None = None
    ) -> list[FaceBox]:
        """Face boxes in ``image`` pixels, detecting on ``region`` (l, t, r, b; default the
        whole image) resized by ``scale``."""
        height, width = image.shape[:2]
        left, top, right, bottom = region or (0, 0, width, height)
        size = (max(1, round((right - left) * scale)), max(1, round((bottom - top) * scale)))
        if min(size) < DETECTION_FACE // 2:
            return []
        patch = Image.fromarray(np.ascontiguousarray(image[top:bottom, left:right]))
        small = np.asarray(patch.resize(size, Image.Resampling.BILINEAR))
        sx, sy = (right - left) / size[0], (bottom - top) / size[1]
        return [
            FaceBox(
                left + box.left * sx,
                top + box.top * sy,
                left + box.right * sx,
                top + box.bottom * sy,
                box.score,
            )
            for box in self.analyzer.detect(small)
        ]

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """(68, 2) float64 landmarks of the face in ``box``, on the full-resolution image."""
        return self.analyzer.landmarks(image, box)

    def find_all(self, image: np.ndarray, *, largest: bool = False) -> list[np.ndarray]:
        """Landmarks (68, 2) of every face in ``image``, of any size down to
        :data:`SMALLEST_FACE` of its shorter side, largest face first. With ``largest``,
        the search (from large faces to small, cheapest first) stops one scale after
        the first face is found: only the largest face is wanted."""
        height, width = image.shape[:2]
        shorter = min(width, height)
        boxes: list[FaceBox] = []
        fraction, found_at = 0.8, None
        while fraction >= SMALLEST_FACE:
            scale = min(DETECTION_FACE / (fraction * shorter), 2.0)
            boxes.extend(self.detect(image, scale))
            if scale >= 2.0 or (largest and found_at is not None):
                break
            if boxes and found_at is None:
                found_at = fraction
            fraction /= 1.5
        kept = _suppress_overlaps(boxes)
        return [self.landmarks(image, box) for box in (kept[:1] if largest else kept)]

    def find_near(self, image: np.ndarray, pose: FacePose) -> list[np.ndarray]:
        """Landmarks of the faces found around where ``pose`` was."""
        height, width = image.shape[:2]
        box_width = BOX_TO_SCALE * pose.scale
        half = SEARCH_REGION * box_width / 2
        region = (
            max(0, math.floor(pose.cx - half)),
            max(0, math.floor(pose.cy - half)),
            min(width, math.ceil(pose.cx + half)),
            min(height, math.ceil(pose.cy + half)),
        )
        if region[2] - region[0] < 2 or region[3] - region[1] < 2:
            return []
        scale = min(DETECTION_FACE / box_width, 2.0)
        boxes = _suppress_overlaps(self.detect(image, scale, region))
        return [self.landmarks(image, box) for box in boxes]


@functools.cache
def default_finder() -> FaceFinder:
    """One :class:`FaceFinder` per process (loading dlib's detector and landmark model
    takes seconds), shared by every caller that does not bring its own."""
    return FaceFinder()


def _suppress_overlaps(boxes: list[FaceBox], threshold: float = 0.3) -> list[FaceBox]:
    """Boxes with the larger of any two overlapping ones kept, largest first."""
    kept: list[FaceBox] = []
    for box in sorted(boxes, key=lambda box: box.area, reverse=True):
        if all(_iou(box, other) < threshold for other in kept):
            kept.append(box)
    return kept


def _iou(a: FaceBox, b: FaceBox) -> float:
    width = min(a.right, b.right) - max(a.left, b.left)
    height = min(a.bottom, b.bottom) - max(a.top, b.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (a.area + b.area - inter)


def poses_of(landmark_sets: Iterable[np.ndarray]) -> list[FacePose]:
    """The :class:`FacePose` of each landmark set (sets whose rigid points coincide are
    dropped)."""
    poses = []
    for points in landmark_sets:
        try:
            poses.append(face_pose(points))
        except ValueError:
            continue
    return poses


def find_face(image: np.ndarray, finder: FaceFinder | None = None) -> FacePose | None:
    """The pose of the largest face in an (H, W, 3) uint8 image, or None."""
    finder = finder or default_finder()
    poses = poses_of(finder.find_all(image, largest=True))
    return max(poses, key=lambda pose: pose.scale) if poses else None


def frame_histogram(frame: np.ndarray) -> np.ndarray:
    """A normalised 8x8x8 RGB histogram of a frame (sampled on a 64x64 grid), (512,)."""
    height, width = frame.shape[:2]
    rows = np.linspace(0, height - 1, 64).astype(int)
    cols = np.linspace(0, width - 1, 64).astype(int)
    pixels = frame[rows][:, cols].reshape(-1, 3).astype(np.int64) // 32
    codes = pixels[:, 0] * 64 + pixels[:, 1] * 8 + pixels[:, 2]
    counts = np.bincount(codes, minlength=512).astype(np.float64)
    return counts / counts.sum()


def is_shot_change(previous: np.ndarray, current: np.ndarray) -> bool:
    """Whether two :func:`frame_histogram` results differ like frames of two shots."""
    return float(np.abs(previous - current).sum()) > CUT_DISTANCE


@dataclass
class FaceTrack:
    """A face followed through a video.

    Attributes:
        poses: (T, 3) float64 cx, cy, scale per frame; NaN where no face was found.
        segments: (T,) int64 segment number per frame, from 0: a new segment starts at
            a shot change and where the face jumps (another face, a cut the histograms
            missed).
        size: (width, height) of the frames.
    """

    poses: np.ndarray
    segments: np.ndarray
    size: tuple[int, int]

    @property
    def found(self) -> np.ndarray:
        """(T,) bool: the frames where a face was found."""
        return ~np.isnan(self.poses[:, 0])

    @property
    def num_frames(self) -> int:
        return len(self.poses)

    def crop_boxes(self, sigma_frames: float, *, inside: bool = True) -> np.ndarray:
        """One square crop per frame, smoothed: (T, 3) cx, cy, side (see
        :func:`smooth_poses`); moved inside the frame when ``inside``.

        Raises:
            TPSMMError: no frame has a face.
        """
        smoothed = smooth_poses(self.poses, self.segments, sigma_frames)
        boxes = np.stack([crop_for_pose(pose).as_array() for pose in smoothed])
        if inside:
            width, height = self.size
            boxes = np.stack(
                [fit_inside(CropBox.from_array(box), width, height).as_array() for box in boxes]
            )
        return boxes


@dataclass
class FaceTracker:
    """Follows the face in a stream of frames, one :meth:`update` per frame.

    Args:
        finder: the detector and landmarks (a :class:`FaceFinder` by default).
        start: a face to follow from the first frame (the largest face otherwise).
    """

    finder: FaceFinder | None = None
    start: FacePose | None = None
    poses: list[np.ndarray] = field(default_factory=list)
    segments: list[int] = field(default_factory=list)
    _last: FacePose | None = None
    _histogram: np.ndarray | None = None
    _lost_for: int = 0
    _segment: int = 0
    _size: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        self.finder = self.finder or default_finder()
        self._last = self.start

    def update(self, frame: np.ndarray) -> FacePose | None:
        """Find the face in the next frame (H, W, 3) uint8; returns its pose or None."""
        assert self.finder is not None
        self._size = (frame.shape[1], frame.shape[0])
        histogram = frame_histogram(frame)
        cut = self._histogram is not None and is_shot_change(self._histogram, histogram)
        self._histogram = histogram
        if cut:
            self._new_segment()
        pose = None
        if self._last is not None and not cut:
            pose = self._closest(poses_of(self.finder.find_near(frame, self._last)))
        if pose is None and (cut or self._last is None or self._lost_for % REACQUIRE_EVERY == 0):
            if self._last is None:
                pose = _largest(poses_of(self.finder.find_all(frame, largest=True)))
            else:
                pose = self._closest(poses_of(self.finder.find_all(frame)))
        if pose is not None and self._last is not None and self.poses and _jumped(self._last, pose):
            self._new_segment()
        if pose is None:
            self._lost_for += 1
        else:
            self._last, self._lost_for = pose, 0
        self.poses.append(pose.as_array() if pose is not None else np.full(3, np.nan))
        self.segments.append(self._segment)
        return pose

    def _new_segment(self) -> None:
        if self.poses:
            self._segment += 1

    def _closest(self, candidates: list[FacePose]) -> FacePose | None:
        if not candidates:
            return None
        last = self._last
        assert last is not None
        return min(candidates, key=lambda p: math.hypot(p.cx - last.cx, p.cy - last.cy))

    def track(self) -> FaceTrack:
        """The poses so far as a :class:`FaceTrack`."""
        if self._size is None:
            raise TPSMMError("no frames to follow a face in")
        return FaceTrack(
            np.array(self.poses, dtype=np.float64).reshape(-1, 3),
            np.array(self.segments, dtype=np.int64),
            self._size,
        )


def _largest(poses: list[FacePose]) -> FacePose | None:
    return max(poses, key=lambda pose: pose.scale) if poses else None


def _jumped(previous: FacePose, current: FacePose) -> bool:
    moved = math.hypot(current.cx - previous.cx, current.cy - previous.cy)
    ratio = max(current.scale, previous.scale) / min(current.scale, previous.scale)
    return moved > JUMP_SCALES * previous.scale or ratio > JUMP_SIZE


def track_faces(
    frames: Iterable[np.ndarray],
    *,
    finder: FaceFinder | None = None,
    start: FacePose | None = None,
    on_frame: Callable[[int], None] | None = None,
) -> FaceTrack:
    """Follow the face through ``frames`` (consumed once; only poses are kept)."""
    tracker = FaceTracker(finder=finder, start=start)
    for index, frame in enumerate(frames):
        tracker.update(frame)
        if on_frame is not None:
            on_frame(index)
    return tracker.track()


# Smoothing -----------------------------------------------------------------------------


def fill_missing(poses: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Poses with the gaps filled: a frame without a face holds the last pose before it
    (in its segment, else the previous segment's last); frames before the first face
    take the first one found.

    Raises:
        TPSMMError: no frame has a face.
    """
    poses = np.array(poses, dtype=np.float64)
    found = ~np.isnan(poses[:, 0])
    if not found.any():
        raise TPSMMError("no face was found in any frame of the video")
    last = poses[np.argmax(found)].copy()
    for index in range(len(poses)):
        if found[index]:
            last = poses[index].copy()
        else:
            poses[index] = last
    return poses


def smooth_poses(poses: np.ndarray, segments: np.ndarray, sigma_frames: float) -> np.ndarray:
    """Fill the gaps (:func:`fill_missing`), then smooth each segment on its own: a
    5-frame running median (drops single-frame landmark errors), then a Gaussian of
    ``sigma_frames`` (zero phase: the crop does not lag), on cx, cy and log(scale).

    Returns:
        (T, 3) cx, cy, scale.
    """
    filled = fill_missing(poses, segments)
    values = np.column_stack([filled[:, 0], filled[:, 1], np.log(filled[:, 2])])
    out = np.empty_like(values)
    for segment in np.unique(segments):
        rows = np.flatnonzero(segments == segment)
        part = running_median(values[rows], MEDIAN_FRAMES)
        out[rows] = gaussian_smooth(part, sigma_frames)
    out[:, 2] = np.exp(out[:, 2])
    return out


def running_median(values: np.ndarray, width: int) -> np.ndarray:
    """Running median over ``width`` frames (odd) along axis 0, edges repeated."""
    if len(values) < 3 or width < 3:
        return values.copy()
    half = width // 2
    padded = np.concatenate([values[:1].repeat(half, 0), values, values[-1:].repeat(half, 0)])
    windows = np.stack([padded[i : i + len(values)] for i in range(width)])
    return np.median(windows, axis=0)


def smoothing_reach(sigma_frames: float) -> int:
    """How many frames after a frame :func:`smooth_poses` reads to smooth it: the
    median's half width and the Gaussian's radius. Tracking this many frames past the
    last one wanted gives the wanted frames the crops of the whole video."""
    radius = max(1, math.ceil(3 * sigma_frames)) if sigma_frames > 0 else 0
    return MEDIAN_FRAMES // 2 + radius


def gaussian_smooth(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing along axis 0 (edges repeated); ``sigma`` in frames, 0: none."""
    if sigma <= 0 or len(values) < 2:
        return values.copy()
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    kernel /= kernel.sum()
    padded = np.concatenate([values[:1].repeat(radius, 0), values, values[-1:].repeat(radius, 0)])
    return sum(w * padded[i : i + len(values)] for i, w in enumerate(kernel))


def box_jitter(boxes: np.ndarray) -> float:
    """How much a box shakes from frame to frame, in pixels: the RMS of the second
    difference over time of its centre and side ((T, 3) cx, cy, side), which is 0 for
    a box at rest or moving steadily (i.i.d. noise of std s gives sqrt(6) s)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    if len(boxes) < 3:
        return 0.0
    second = boxes[2:] - 2 * boxes[1:-1] + boxes[:-2]
    return float(np.sqrt((second**2).mean()))
