"""Datasets of videos for training and evaluation, their augmentations and checks.

See :mod:`tpsmm.data.datasets` for the item format, the split and the randomness,
:mod:`tpsmm.data.video_io` for what counts as a video and how it is decoded, and
:mod:`tpsmm.data.augmentation` for the ``augmentation_params`` transforms.
"""

from tpsmm.data.augmentation import Augmentation, build_augmentation
from tpsmm.data.check import DatasetReport, Finding, check_dataset
from tpsmm.data.datasets import (
    DatasetRepeater,
    FramesDataset,
    build_dataset,
    collate_items,
    evaluation_dataset,
    group_by_identity,
    identity_of,
    split_videos,
)
from tpsmm.data.video_io import FrameSource, list_videos, open_video, parse_frame_shape
from tpsmm.data.workers import loader_workers, usable_cores

__all__ = [
    "Augmentation",
    "DatasetRepeater",
    "DatasetReport",
    "Finding",
    "FrameSource",
    "FramesDataset",
    "build_augmentation",
    "build_dataset",
    "check_dataset",
    "collate_items",
    "evaluation_dataset",
    "group_by_identity",
    "identity_of",
    "list_videos",
    "loader_workers",
    "open_video",
    "parse_frame_shape",
    "split_videos",
    "usable_cores",
]
