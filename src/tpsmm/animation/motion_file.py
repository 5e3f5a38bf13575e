"""Motion files: a driving video's keypoints, saved once and animated from any time later.

``tpsmm motion --driving talk.mp4 --out motion.npz`` stores, per driving frame, the
keypoints the model's keypoint detector finds (K*5 points in [-1, 1], float32, exactly
as the animation would use them), and with them what they belong to:

- the model's config (JSON) and a digest of its keypoint detector's weights: keypoints
  of one detector mean nothing to another, so animating with a model of another
  architecture is refused and with other weights is flagged;
- the frame rate, the driving video's size, how its frames were brought to the
  model's size (a ``--fit`` mode or ``face``), and the face crop of every frame when
  the face was cropped (``--crop-face``);
- optionally the driving video's audio, remuxed as it is (no re-encoding).

No pixels of the driving video are kept: the file can be shared without the driver's
face. It is a plain ``.npz`` (NumPy arrays, read with ``allow_pickle=False``), so
opening one runs no code.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch

from tpsmm.config import Config, config_from_dict
from tpsmm.errors import ConfigError, TPSMMError, first_line
from tpsmm.files import atomic_path
from tpsmm.model import TPSMM

#: The format tag stored in every motion file.
MOTION_FORMAT = "tpsmm-motion"
MOTION_VERSION = 1
MOTION_SUFFIX = ".npz"


@dataclass(frozen=True)
class Motion:
    """The content of a motion file.

    Attributes:
        keypoints: (T, K*5, 2) float32 driving keypoints in [-1, 1].
        frame_rate: the driving video's exact frame rate.
        config: the config of the model that found the keypoints.
        detector_digest: :func:`keypoint_detector_digest` of that model.
        framing: how driving frames reached the model's size: ``face`` (``--crop-face``)
            or a ``--fit`` mode.
        video_size: (width, height) of the driving video.
        boxes: (T, 3) float64 face crops (cx, cy, side in the video's pixels) when
            ``framing`` is ``face``, else None.
        audio: the driving video's audio as a Matroska file, or None.
        times: (T,) int64 presentation times of the driving frames in ticks of
            ``time_base`` seconds, from the first frame (0), or None (files made before
            times were kept: frames ``1 / frame_rate`` apart).
        time_base: the unit of ``times``.
    """

    keypoints: np.ndarray
    frame_rate: Fraction
    config: Config
    detector_digest: str
    framing: str
    video_size: tuple[int, int]
    boxes: np.ndarray | None = None
    audio: bytes | None = None
    times: np.ndarray | None = None
    time_base: Fraction | None = None

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

    def frame_times(self) -> list[Fraction] | None:
        """Each frame's time in seconds since the first, or None when not kept."""
        if self.times is None or self.time_base is None:
            return None
        return [int(tick) * self.time_base for tick in self.times]

    @property
    def variable_rate(self) -> bool:
        """Whether the driving frames' intervals vary (more than one tick)."""
        if self.times is None or len(self.times) < 3:
            return False
        intervals = np.diff(self.times)
        return bool(intervals.max() - intervals.min() > 1)

    def check_model(self, model: TPSMM, name: str = "motion file") -> bool:
        """Whether ``model`` is the one the keypoints were found with.

        Returns:
            True for the same keypoint detector weights, False for other weights of the
            same shape (the caller says so: the motion will be wrong).

        Raises:
            TPSMMError: the model has another number of keypoints or frame size.
        """
        points = model.num_tps * 5
        if self.keypoints.shape[1] != points or self.config.frame_size != model.frame_size:
            raise TPSMMError(
                f"{name}: made for a model with {self.keypoints.shape[1] // 5} TPS at "
                f"{self.config.frame_size}x{self.config.frame_size}, but this one has "
                f"{model.num_tps} TPS at {model.frame_size}x{model.frame_size}"
            )
        return keypoint_detector_digest(model) == self.detector_digest


def keypoint_detector_digest(model: TPSMM) -> str:
    """SHA-256 (hex) of the keypoint detector's weights, rounded to bfloat16 so that one
    checkpoint gives one digest whether it runs in float32 or bfloat16."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.kp_detector.state_dict().items()):
        digest.update(name.encode())
        values = tensor.detach().cpu()
        if values.is_floating_point():
            values = values.to(torch.bfloat16).view(torch.int16)
        digest.update(values.contiguous().numpy().tobytes())
    return digest.hexdigest()


def is_motion_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` names a motion file (by its suffix)."""
    return Path(path).suffix.lower() == MOTION_SUFFIX


def save_motion(path: str | os.PathLike, motion: Motion) -> Path:
    """Write ``motion`` to ``path`` (``.npz``), atomically; returns the path."""
    path = Path(path)
    if not is_motion_file(path):
        raise TPSMMError(f"{path}: a motion file's name must end in {MOTION_SUFFIX}")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(MOTION_FORMAT),
        "version": np.array(MOTION_VERSION),
        "keypoints": np.asarray(motion.keypoints, dtype=np.float32),
        "frame_rate": np.array(
            [motion.frame_rate.numerator, motion.frame_rate.denominator], np.int64
        ),
        "config": np.array(json.dumps(motion.config.to_dict())),
        "detector_digest": np.array(motion.detector_digest),
        "framing": np.array(motion.framing),
        "video_size": np.array(motion.video_size, np.int64),
    }
    if motion.boxes is not None:
        arrays["boxes"] = np.asarray(motion.boxes, dtype=np.float64)
    if motion.audio is not None:
        arrays["audio"] = np.frombuffer(motion.audio, dtype=np.uint8)
    if motion.times is not None and motion.time_base is not None:
        arrays["times"] = np.asarray(motion.times, dtype=np.int64)
        arrays["time_base"] = np.array(
            [motion.time_base.numerator, motion.time_base.denominator], np.int64
        )
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


#: The first bytes of a ``.npz`` (a zip archive; an empty archive starts with its end).
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def load_motion(path: str | os.PathLike) -> Motion:
    """Read a motion file written by :func:`save_motion`.

    Everything is checked before any frame is made: the archive, its format tag and
    version, the arrays' shapes, finite keypoints (and face crops), a positive frame
    rate, increasing frame times, and audio that FFmpeg reads.

    Raises:
        TPSMMError: a missing file, a file that is not a motion file, or a damaged one,
            in one line naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise TPSMMError(f"{path}: no such motion file")
    with path.open("rb") as handle:
        head = handle.read(4)
    if not head:
        raise TPSMMError(f"{path}: empty file, not a motion file (made by `tpsmm motion`)")
    if head not in ZIP_MAGIC:
        raise TPSMMError(
            f"{path}: not a tpsmm motion file (made by `tpsmm motion`; this file is not a "
            ".npz archive)"
        )
    try:
        motion = _read_motion(path)
    except ConfigError as error:
        raise TPSMMError(f"{path}: damaged motion file (its model config: {error})") from None
    except TPSMMError:
        raise
    except (
        OSError,
        EOFError,
        ValueError,
        KeyError,
        TypeError,
        ZeroDivisionError,
        zipfile.BadZipFile,
    ) as error:
        raise TPSMMError(f"{path}: damaged motion file ({_reason(error)})") from None
    _check_motion(path, motion)
    return motion


def _read_motion(path: Path) -> Motion:
    """The arrays of a motion file as a :class:`Motion` (unchecked)."""
    with np.load(path, allow_pickle=False) as data:
        if "format" not in data.files or str(data["format"]) != MOTION_FORMAT:
            raise TPSMMError(f"{path}: not a tpsmm motion file (made by `tpsmm motion`)")
        version = int(data["version"])
        if version > MOTION_VERSION:
            raise TPSMMError(
                f"{path}: motion file version {version} is newer than this tpsmm "
                f"reads ({MOTION_VERSION}); upgrade tpsmm"
            )
        numerator, denominator = (int(v) for v in data["frame_rate"])
        if numerator <= 0 or denominator <= 0:
            raise ValueError(f"frame rate {numerator}/{denominator}")
        times = time_base = None
        if "times" in data.files and "time_base" in data.files:
            times = np.asarray(data["times"], dtype=np.int64)
            base = [int(v) for v in data["time_base"]]
            if len(base) != 2 or base[0] <= 0 or base[1] <= 0:
                raise ValueError(f"time base {'/'.join(map(str, base))}")
            time_base = Fraction(*base)
        width, height = (int(v) for v in data["video_size"])
        return Motion(
            keypoints=np.asarray(data["keypoints"], dtype=np.float32),
            frame_rate=Fraction(numerator, denominator),
            config=config_from_dict(json.loads(str(data["config"]))),
            detector_digest=str(data["detector_digest"]),
            framing=str(data["framing"]),
            video_size=(width, height),
            boxes=np.asarray(data["boxes"], dtype=np.float64) if "boxes" in data.files else None,
            audio=data["audio"].tobytes() if "audio" in data.files else None,
            times=times,
            time_base=time_base,
        )


def _reason(error: BaseException) -> str:
    """Why reading failed, in our words where numpy's would mislead."""
    if isinstance(error, ValueError) and "pickle" in str(error):
        return "it holds Python objects, which are never read"
    if isinstance(error, EOFError | zipfile.BadZipFile):
        return "the archive is cut short or corrupt"
    if isinstance(error, KeyError):  # numpy: "NAME is not a file in the archive"
        name = str(error.args[0]).split()[0] if error.args else "expected"
        return f"no {name} entry"
    return first_line(error)


def _check_motion(path: Path, motion: Motion) -> None:
    """Refuse arrays that would animate wrongly (shapes, non-finite values, times)."""
    keypoints = motion.keypoints
    if keypoints.ndim != 3 or keypoints.shape[2] != 2 or len(keypoints) == 0:
        raise TPSMMError(f"{path}: damaged motion file (keypoints of shape {keypoints.shape})")
    bad = np.flatnonzero(~np.isfinite(keypoints).all(axis=(1, 2)))
    if len(bad):
        raise TPSMMError(
            f"{path}: damaged motion file (keypoints that are not finite numbers at frame "
            f"{bad[0]}{f' and {len(bad) - 1} more' if len(bad) > 1 else ''})"
        )
    if motion.times is not None and (
        motion.times.shape != (len(keypoints),) or np.any(np.diff(motion.times) <= 0)
    ):
        raise TPSMMError(f"{path}: damaged motion file (frame times do not fit the keypoints)")
    if motion.boxes is not None and (
        motion.boxes.shape != (len(keypoints), 3) or not np.isfinite(motion.boxes).all()
    ):
        raise TPSMMError(f"{path}: damaged motion file (face crops do not fit the keypoints)")
    if min(motion.video_size) < 1:
        raise TPSMMError(f"{path}: damaged motion file (video size {motion.video_size})")
    if motion.audio is not None and not _audio_readable(motion.audio):
        raise TPSMMError(f"{path}: damaged motion file (its audio cannot be read)")


def _audio_readable(audio: bytes) -> bool:
    """Whether FFmpeg opens ``audio`` (a Matroska file) and finds an audio stream."""
    try:
        with av.open(io.BytesIO(audio)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError, ValueError):
        return False


def extract_audio(path: str | os.PathLike) -> bytes | None:
    """The first audio stream of a media file remuxed (not re-encoded) into an in-memory
    Matroska file, with its timing kept relative to the first video frame; None when
    the file has no audio (or is a folder of frames)."""
    path = Path(path)
    if path.is_dir():
        return None
    buffer = io.BytesIO()
    with av.open(str(path)) as source:
        if not source.streams.audio:
            return None
        stream = source.streams.audio[0]
        video = source.streams.video[0] if source.streams.video else None
        start = 0.0
        if video is not None and video.start_time is not None and video.time_base:
            start = float(video.start_time * video.time_base)
        offset = round(start / stream.time_base) if stream.time_base else 0
        with av.open(buffer, "w", format="matroska") as output:
            target = output.add_stream_from_template(stream)
            for packet in source.demux(stream):
                if packet.size == 0 or packet.pts is None:
                    continue
                packet.pts -= offset
                if packet.dts is not None:
                    packet.dts -= offset
                if packet.pts < 0:
                    continue
                packet.stream = target
                output.mux(packet)
    return buffer.getvalue()
