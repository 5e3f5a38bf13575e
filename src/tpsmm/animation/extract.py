"""Motion extraction (``tpsmm motion``): the keypoints of a driving video, found once and
saved as a motion file (:mod:`tpsmm.animation.motion_file`) that animates any source as
the video itself would.
"""

from __future__ import annotations

import numpy as np
import torch

from tpsmm.animation.backend import default_batch_size
from tpsmm.animation.driving import (
    DrivingInput,
    check_positive,
    driving_batches,
    driving_face_boxes,
    open_driving,
)
from tpsmm.animation.motion_file import Motion, extract_audio, keypoint_detector_digest
from tpsmm.animation.progress import FrameProgress, ProgressCallback, expected_frames
from tpsmm.faces.tracking import SMOOTHING_SECONDS, FaceFinder, default_finder
from tpsmm.media import DEFAULT_FIT_MODE
from tpsmm.media.tensors import frames_to_tensor
from tpsmm.model import TPSMM


def extract_motion(
    model: TPSMM,
    driving: DrivingInput,
    *,
    fit: str = DEFAULT_FIT_MODE,
    crop_face: bool = False,
    batch_size: int | None = None,
    max_frames: int | None = None,
    audio: bool = True,
    smoothing: float = SMOOTHING_SECONDS,
    finder: FaceFinder | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Motion:
    """The motion of a driving video: its keypoints as ``model`` finds them on its frames
    brought to the model's size (fitted with ``fit``, or cut around the face with
    ``crop_face``), ``batch_size`` frames at a time as :class:`VideoAnimator` does, so
    that animating from the motion gives the frames animating from the video gives.

    Raises:
        TPSMMError: a bad video, no face with ``crop_face``.
    """
    check_positive(max_frames, "max frames")
    parameter = next(model.parameters())
    batch_size = check_positive(batch_size, "batch size") or default_batch_size(parameter.device)
    with open_driving(driving) as reader:
        boxes = None
        if crop_face:
            boxes = driving_face_boxes(
                reader, finder or default_finder(), smoothing, max_frames, progress, on_progress
            )
        chunks, ticks = [], []
        total = expected_frames(reader, max_frames)
        with (
            FrameProgress("motion", total, bar=progress, on_progress=on_progress) as bar,
            torch.inference_mode(),
        ):
            for batch in driving_batches(
                reader, model.frame_size, batch_size, fit=fit, boxes=boxes, max_frames=max_frames
            ):
                # as Animator.animate does: to float32 in [0, 1], then the model's dtype
                images = frames_to_tensor(batch.frames, parameter.device).to(parameter.dtype)
                chunks.append(model.keypoints(images).float().cpu().numpy())
                assert batch.times is not None
                ticks.extend(round(time / reader.time_base) for time in batch.times)
                bar.update(len(batch))
        keypoints = np.concatenate(chunks)
        return Motion(
            keypoints=keypoints,
            frame_rate=reader.frame_rate,
            times=np.asarray(ticks, np.int64),
            time_base=reader.time_base,
            config=model.config,
            detector_digest=keypoint_detector_digest(model),
            framing="face" if crop_face else fit,
            video_size=reader.size,
            boxes=boxes[: len(keypoints)] if boxes is not None else None,
            audio=extract_audio(reader.path) if audio and reader.has_audio else None,
        )
