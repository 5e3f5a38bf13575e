"""Media input and output: images, videos, folders of frames, and fitting frames to size.

Frames are numpy arrays of shape (H, W, 3), dtype uint8, RGB, values 0..255 (writers also
accept float in [0, 1]). Every problem a user can cause (a missing file, an image given
as a video, a corrupt file) raises :class:`tpsmm.errors.MediaError` with a one-line
message that names the file.
"""

from __future__ import annotations

from tpsmm.media._common import (
    DEFAULT_FOLDER_FPS,
    GIF_SUFFIX,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    natural_sort_key,
    to_frame_rate,
    to_uint8,
)
from tpsmm.media.fit import (
    DEFAULT_FIT_MODE,
    FIT_MODES,
    RESAMPLE,
    FitMode,
    FrameFitter,
    check_fit_mode,
    fit_frame,
    fit_frames,
)
from tpsmm.media.image import load_image, save_image
from tpsmm.media.probe import MediaKind, probe
from tpsmm.media.video import VideoReader, list_frame_files, read_video
from tpsmm.media.writer import OutputKind, VideoWriter, check_output, output_kind

__all__ = [
    "DEFAULT_FIT_MODE",
    "DEFAULT_FOLDER_FPS",
    "FIT_MODES",
    "GIF_SUFFIX",
    "IMAGE_SUFFIXES",
    "RESAMPLE",
    "VIDEO_SUFFIXES",
    "FitMode",
    "FrameFitter",
    "MediaKind",
    "OutputKind",
    "VideoReader",
    "VideoWriter",
    "check_fit_mode",
    "check_output",
    "fit_frame",
    "fit_frames",
    "list_frame_files",
    "load_image",
    "natural_sort_key",
    "output_kind",
    "probe",
    "read_video",
    "save_image",
    "to_frame_rate",
    "to_uint8",
]
