"""Frame sources of a dataset: how a "video" on disk becomes float frames.

A video in a dataset folder is one of

* a folder of frame images (any still-image format :mod:`tpsmm.media` reads: PNG, JPEG,
  BMP, WebP, TIFF, ...), in natural name order (``2.png`` before ``10.png``), as listed
  by :func:`tpsmm.media.video.list_frame_files`; other files and hidden files are
  ignored;
* a video file: every container the media reader takes (``.mp4 .m4v .mov .mkv .webm
  .avi ...``, :data:`tpsmm.media.VIDEO_SUFFIXES`) and animated ``.gif``;
* one still image (:data:`tpsmm.media.IMAGE_SUFFIXES`: ``.png .jpg ...``) holding the
  frames side by side (a "strip"), which needs the frame size: its height must equal
  the frame height and its width be a multiple of the frame width.

The suffixes are the media layer's, so a file that drives an animation is also a
training video.

Every source reads frames as ``numpy.ndarray`` ``(T, H, W, 3)`` float32 in [0, 1]. When a
frame shape is given, frames of a folder or video file whose size differs are resized to
it (bilinear, anti-aliased when shrinking, as the authors' ``skimage`` ``resize``); a
strip is cut at the frame size instead. Without a frame shape, frames keep their size,
and a folder whose frames differ in size is an error.

Decoding goes through :mod:`tpsmm.media` (images with ``load_image``, videos with
``VideoReader``). To read selected frames of a video file we decode from the start up to
the largest index needed and stop there; frames are not cached, because a training item
needs two frames of a video that it will not read again soon. The frame count of a video
file comes from the container when it states one, otherwise from decoding the whole file
once; either way it is remembered per process (keyed by path, size and modification
time), so counting costs once per file and worker. When a container over-states the
count, the read that runs off the end corrects the remembered count and raises
:class:`FrameCountChanged`, so the caller can draw new indices.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tpsmm.data.augmentation import resize_clip
from tpsmm.errors import ConfigError, DatasetError, MediaError, first_line
from tpsmm.media import GIF_SUFFIX, IMAGE_SUFFIXES, VIDEO_SUFFIXES, natural_sort_key
from tpsmm.media.image import load_image
from tpsmm.media.video import VideoReader, list_frame_files

__all__ = [
    "STRIP_EXTENSIONS",
    "VIDEO_EXTENSIONS",
    "FrameCountChanged",
    "FrameFolder",
    "FrameSource",
    "FrameStrip",
    "ScanResult",
    "VideoFile",
    "is_video_entry",
    "list_videos",
    "open_video",
    "parse_frame_shape",
]

#: Suffixes of dataset video files: the media layer's video containers and GIF.
VIDEO_EXTENSIONS = VIDEO_SUFFIXES | {GIF_SUFFIX}
#: Suffixes of strip images: the media layer's still images.
STRIP_EXTENSIONS = IMAGE_SUFFIXES

# Frame counts of video files, per process: (path, size, mtime_ns) -> count.
_FRAME_COUNTS: dict[tuple[str, int, int], int] = {}


class FrameCountChanged(DatasetError):
    """A video file had fewer frames than its container said; the count is now corrected."""

    def __init__(self, path: Path, num_frames: int) -> None:
        super().__init__(f"{path}: has {num_frames} frames, fewer than its container states")
        self.path = path
        self.num_frames = num_frames


@dataclass(frozen=True)
class ScanResult:
    """What a full read of a video found: its frame count and the stored frame sizes.

    ``frame_sizes`` holds the distinct ``(H, W)`` of the frames as stored (before any
    resizing to the frame shape).
    """

    num_frames: int
    frame_sizes: frozenset[tuple[int, int]]


def parse_frame_shape(value: Any, where: str = "frame_shape") -> tuple[int, int] | None:
    """``None``, ``[H, W]`` or ``[H, W, 3]`` (as in the YAML) to ``(H, W)`` or ``None``."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError(f"{where} must be null, [H, W] or [H, W, 3], got {value!r}")
    items = list(value)
    ok = len(items) in (2, 3) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in items
    )
    if not ok or (len(items) == 3 and items[2] != 3):
        raise ConfigError(f"{where} must be null, [H, W] or [H, W, 3], got {value!r}")
    return int(items[0]), int(items[1])


def is_video_entry(path: Path) -> bool:
    """Whether ``path`` (an entry of a dataset folder) is a video: folder, video or strip."""
    if path.name.startswith("."):
        return False
    if path.is_dir():
        return True
    suffix = path.suffix.lower()
    return path.is_file() and (suffix in VIDEO_EXTENSIONS or suffix in STRIP_EXTENSIONS)


def list_videos(directory: Path) -> list[Path]:
    """The videos directly inside ``directory``, in natural sort order (ties, such as
    ``v1`` and ``v01``, by name), whatever order the file system lists them in."""
    entries = [p for p in Path(directory).iterdir() if is_video_entry(p)]
    return sorted(entries, key=lambda p: (natural_sort_key(p.name), p.name))


def _to_float(frames: np.ndarray) -> np.ndarray:
    """uint8 ``(..., 3)`` to float32 in [0, 1]."""
    return frames.astype(np.float32) / np.float32(255.0)


def _resize_frames(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """float32 ``(T, H, W, 3)`` to ``(T, size[0], size[1], 3)``; no copy when already so."""
    if frames.shape[1:3] == tuple(size):
        return frames
    clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
    out = resize_clip(clip, size, "bilinear").permute(0, 2, 3, 1)
    return np.ascontiguousarray(out.numpy())


def _stack(frames: Sequence[np.ndarray], path: Path) -> np.ndarray:
    """Stack ``(H, W, 3)`` frames into ``(T, H, W, 3)``, failing clearly on mixed sizes."""
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        listed = ", ".join(f"{h}x{w}" for h, w, _ in sorted(shapes))
        raise DatasetError(
            f"{path}: frames differ in size ({listed}); set dataset_params.frame_shape"
        )
    if not frames:
        return np.zeros((0, 0, 0, 3), dtype=np.float32)
    return np.stack(frames)


def _media_failure(path: Path, error: Exception) -> DatasetError:
    """A one-line :class:`DatasetError` naming ``path`` for a decoding failure."""
    message = first_line(error, limit=None)
    if str(path) not in message:
        message = f"{path}: cannot read: {message}"
    return DatasetError(message)


class FrameSource:
    """A video of a dataset; subclasses read frames from one kind of storage.

    Attributes: ``path`` (the file or folder) and ``frame_shape`` (``(H, W)`` or ``None``).
    """

    def __init__(self, path: Path, frame_shape: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.frame_shape = frame_shape

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, frame_shape={self.frame_shape})"

    @property
    def num_frames(self) -> int:
        """How many frames the video has (may decode the video once; remembered)."""
        raise NotImplementedError

    def read(self, indices: Iterable[int]) -> np.ndarray:
        """The frames at ``indices`` (any order, repeats allowed), in that order.

        Returns ``(len(indices), H, W, 3)`` float32 in [0, 1]. Raises
        :class:`DatasetError` naming the path if the video cannot be read or an index
        is out of range.
        """
        raise NotImplementedError

    def read_all(self) -> np.ndarray:
        """Every frame, ``(T, H, W, 3)`` float32 in [0, 1]."""
        return self.read(range(self.num_frames))

    def scan(self, quick: bool = False) -> ScanResult:
        """Decode every frame (only the first with ``quick``) without keeping them.

        With ``quick``, the count is the number of frame files, the container's count
        or the strip width. Raises :class:`DatasetError` when something cannot be read.
        """
        raise NotImplementedError

    def _check_indices(self, indices: Iterable[int]) -> list[int]:
        wanted = [int(i) for i in indices]
        count = self.num_frames
        for i in wanted:
            if not 0 <= i < count:
                raise DatasetError(f"{self.path}: frame {i} requested, video has {count} frames")
        return wanted

    def _finish(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        """Stack uint8 frames, convert to float and bring them to ``frame_shape``."""
        if self.frame_shape is None:
            return _to_float(_stack(frames, self.path))
        resized = [_resize_frames(_to_float(f)[None], self.frame_shape)[0] for f in frames]
        if not resized:
            return np.zeros((0, *self.frame_shape, 3), dtype=np.float32)
        return np.stack(resized)


class FrameFolder(FrameSource):
    """A folder of frame images; only the requested files are loaded."""

    def __init__(self, path: Path, frame_shape: tuple[int, int] | None = None) -> None:
        super().__init__(path, frame_shape)
        self._files: list[Path] | None = None

    @property
    def files(self) -> list[Path]:
        """The frame images, in natural sort order."""
        if self._files is None:
            try:
                self._files = list_frame_files(self.path)
            except OSError as error:
                raise _media_failure(self.path, error) from error
        return self._files

    @property
    def num_frames(self) -> int:
        return len(self.files)

    def read(self, indices: Iterable[int]) -> np.ndarray:
        wanted = self._check_indices(indices)
        files = self.files
        loaded: dict[int, np.ndarray] = {}
        for i in wanted:
            if i not in loaded:
                loaded[i] = _load_rgb(files[i])
        return self._finish([loaded[i] for i in wanted])

    def scan(self, quick: bool = False) -> ScanResult:
        files = self.files[:1] if quick else self.files
        sizes = frozenset(_load_rgb(f).shape[:2] for f in files)
        return ScanResult(len(self.files), sizes)


def _load_rgb(path: Path) -> np.ndarray:
    """One image as ``(H, W, 3)`` uint8 RGB, or a :class:`DatasetError` naming it."""
    try:
        return np.asarray(load_image(path))
    except (MediaError, OSError) as error:
        raise _media_failure(path, error) from error


class VideoFile(FrameSource):
    """A video file (mp4, gif, ...), decoded from the start up to the last frame needed.

    A one-frame GIF, which :class:`tpsmm.media.video.VideoReader` turns away as a still
    image, is read as a video of one frame.
    """

    def _key(self) -> tuple[str, int, int]:
        try:
            stat = self.path.stat()
        except OSError as error:
            raise _media_failure(self.path, error) from error
        return str(self.path.resolve()), stat.st_size, stat.st_mtime_ns

    @property
    def num_frames(self) -> int:
        key = self._key()
        if key not in _FRAME_COUNTS:
            _FRAME_COUNTS[key] = self._count()
        return _FRAME_COUNTS[key]

    def _count(self) -> int:
        try:
            with VideoReader(self.path) as reader:
                return int(reader.num_frames or sum(1 for _ in reader))
        except MediaError as error:
            self._still_gif(error)
            return 1
        except OSError as error:
            raise _media_failure(self.path, error) from error

    def _still_gif(self, error: MediaError) -> np.ndarray:
        """The frame of a one-frame GIF the video reader refused; else ``error`` as ours."""
        if self.path.suffix.lower() == GIF_SUFFIX:
            try:
                return np.asarray(load_image(self.path))
            except MediaError:
                pass
        raise _media_failure(self.path, error) from error

    def _frames(self) -> Iterator[np.ndarray]:
        """``(H, W, 3)`` uint8 frames from the first; use within ``contextlib.closing``."""
        try:
            reader = VideoReader(self.path)
        except MediaError as error:
            yield self._still_gif(error)
            return
        try:
            with reader:
                for frame in reader:
                    yield np.asarray(frame)
        except (MediaError, OSError) as error:
            raise _media_failure(self.path, error) from error

    def _decode(self, last: int | None = None) -> list[np.ndarray]:
        """Frames ``0 .. last`` (all when ``last`` is None; fewer if the video is shorter)."""
        frames: list[np.ndarray] = []
        with closing(self._frames()) as stream:
            for frame in stream:
                frames.append(frame)
                if last is not None and len(frames) > last:
                    break
        return frames

    def read(self, indices: Iterable[int]) -> np.ndarray:
        wanted = self._check_indices(indices)
        if not wanted:
            return self._finish([])
        frames = self._decode(max(wanted))
        if len(frames) <= max(wanted):
            _FRAME_COUNTS[self._key()] = len(frames)
            raise FrameCountChanged(self.path, len(frames))
        return self._finish([frames[i] for i in wanted])

    def read_all(self) -> np.ndarray:
        frames = self._decode()
        _FRAME_COUNTS[self._key()] = len(frames)
        return self._finish(frames)

    def scan(self, quick: bool = False) -> ScanResult:
        if quick:
            count = self.num_frames
            first = self._decode(0)
            return ScanResult(count, frozenset(f.shape[:2] for f in first))
        count = 0
        sizes: set[tuple[int, int]] = set()
        with closing(self._frames()) as stream:
            for frame in stream:
                count += 1
                sizes.add((frame.shape[0], frame.shape[1]))
        _FRAME_COUNTS[self._key()] = count
        return ScanResult(count, frozenset(sizes))


class FrameStrip(FrameSource):
    """One image of frames side by side; needs the frame shape to cut it."""

    def __init__(self, path: Path, frame_shape: tuple[int, int] | None = None) -> None:
        super().__init__(path, frame_shape)
        self._image: np.ndarray | None = None

    @property
    def frame_size(self) -> tuple[int, int]:
        """``(H, W)`` of one frame; a strip without a frame shape is an error."""
        if self.frame_shape is None:
            raise DatasetError(
                f"{self.path}: an image of concatenated frames needs dataset_params.frame_shape"
            )
        return self.frame_shape

    @property
    def image(self) -> np.ndarray:
        """The whole strip, ``(H, N * W, 3)`` uint8, checked against the frame shape."""
        if self._image is None:
            height, width = self.frame_size
            image = _load_rgb(self.path)
            if image.shape[0] != height or image.shape[1] % width != 0:
                raise DatasetError(
                    f"{self.path}: image of {image.shape[0]}x{image.shape[1]} pixels is not a "
                    f"row of {height}x{width} frames (frame_shape)"
                )
            self._image = image
        return self._image

    @property
    def num_frames(self) -> int:
        return self.image.shape[1] // self.frame_size[1]

    def read(self, indices: Iterable[int]) -> np.ndarray:
        wanted = self._check_indices(indices)
        width = self.frame_size[1]
        frames = [self.image[:, i * width : (i + 1) * width] for i in wanted]
        return _to_float(np.stack(frames)) if frames else self._finish([])

    def scan(self, quick: bool = False) -> ScanResult:
        return ScanResult(self.num_frames, frozenset({self.frame_size}))


def open_video(
    path: str | os.PathLike[str], frame_shape: tuple[int, int] | None = None
) -> FrameSource:
    """The frame source for one dataset entry; nothing is read until asked.

    Raises :class:`DatasetError` for a missing path or an unknown extension.
    """
    path = Path(path)
    if path.is_dir():
        return FrameFolder(path, frame_shape)
    if not path.exists():
        raise DatasetError(f"{path}: video not found")
    suffix = path.suffix.lower()
    if suffix in VIDEO_EXTENSIONS:
        return VideoFile(path, frame_shape)
    if suffix in STRIP_EXTENSIONS:
        return FrameStrip(path, frame_shape)
    raise DatasetError(
        f"{path}: not a video (a folder of frames, a video file: "
        f"{' '.join(sorted(VIDEO_EXTENSIONS))}, or a strip image: "
        f"{' '.join(sorted(STRIP_EXTENSIONS))})"
    )
