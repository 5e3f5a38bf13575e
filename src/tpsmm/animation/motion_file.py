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
    """

    keypoints: np.ndarray
    frame_rate: Fraction
    config: Config
    detector_digest: str
    framing: str
    video_size: tuple[int, int]
    boxes: np.ndarray | None = None
    audio: bytes | None = None

    @property
    def num_frames(self) -> int:
        return len(self.keypoints)

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
    with atomic_path(path) as temporary, temporary.open("wb") as handle:
        np.savez(handle, **arrays)
    return path


def load_motion(path: str | os.PathLike) -> Motion:
    """Read a motion file written by :func:`save_motion`.

    Raises:
        TPSMMError: a missing file, a file that is not a motion file, or a damaged one.
    """
    path = Path(path)
    if not path.is_file():
        raise TPSMMError(f"{path}: no such motion file")
    try:
        with np.load(path, allow_pickle=False) as data:
            if "format" not in data.files or str(data["format"]) != MOTION_FORMAT:
                raise TPSMMError(f"{path}: not a tpsmm motion file (made by `tpsmm motion`)")
            version = int(data["version"])
            if version > MOTION_VERSION:
                raise TPSMMError(
                    f"{path}: motion file version {version} is newer than this tpsmm "
                    f"reads ({MOTION_VERSION}); upgrade tpsmm"
                )
            keypoints = np.asarray(data["keypoints"], dtype=np.float32)
            numerator, denominator = (int(v) for v in data["frame_rate"])
            config = config_from_dict(json.loads(str(data["config"])))
            boxes = np.asarray(data["boxes"]) if "boxes" in data.files else None
            audio = data["audio"].tobytes() if "audio" in data.files else None
            width, height = (int(v) for v in data["video_size"])
            motion = Motion(
                keypoints=keypoints,
                frame_rate=Fraction(numerator, denominator),
                config=config,
                detector_digest=str(data["detector_digest"]),
                framing=str(data["framing"]),
                video_size=(width, height),
                boxes=boxes,
                audio=audio,
            )
    except TPSMMError:
        raise
    except (OSError, ValueError, KeyError, ZeroDivisionError, ConfigError) as error:
        raise TPSMMError(f"{path}: damaged motion file ({first_line(error)})") from None
    if keypoints.ndim != 3 or keypoints.shape[2] != 2 or len(keypoints) == 0:
        raise TPSMMError(f"{path}: damaged motion file (keypoints of shape {keypoints.shape})")
    return motion


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
