"""Training and test datasets of videos, with the authors' ``FramesDataset`` semantics.

Layout
    A root with ``train/`` and ``test/`` folders uses them as the split. Otherwise the
    videos directly in the root are split 80/20 by :func:`split_videos`: the same
    permutation as scikit-learn's ``train_test_split(videos, random_state=random_seed,
    test_size=0.2)`` (a ``numpy.random.RandomState(random_seed).permutation``; the first
    ``ceil(0.2 * n)`` are the test set), applied to the videos in natural sort order. The
    authors list the folder in ``os.listdir`` order, which depends on the file system,
    so their split is only the same where that order happens to be sorted.
    What counts as a video is described in :mod:`tpsmm.data.video_io`.

Training items
    ``{'source': (3, H, W), 'driving': (3, H, W), 'name': str}``, float32 tensors in
    [0, 1]: two frames of one video at ``np.sort(rng.choice(num_frames, 2,
    replace=True))`` (so a one-frame video gives the same frame twice, as in the authors'
    code), augmented together. With ``id_sampling`` an item is an identity (the video
    file name up to the first ``#``, for every kind of video; the authors only look for
    ``.mp4`` files) and a random video of that identity is used; ``name`` is the video's
    file name.

Ground-truth motion (``ground_truth_motion``, ours)
    Training items of videos with a ground-truth file beside them (``tpsmm synth``; see
    :mod:`tpsmm.synthetic.dataset`) take frame 0 as the source and a random frame t as
    the driving frame, get only the colour augmentations (a flip would change the
    motion) and, with ``augmentation_params.motion_param``, a random view and added
    motion with the ground truth moved along (:mod:`tpsmm.data.motion_augmentation`),
    and carry ``'flow'`` (H, W, 2), the true deformation from frame t to frame 0
    (normalised (x, y), align_corners=True: the convention of the dense motion network's
    ``deformation``), ``'flow_valid'`` (H, W) bool, the pixels where it is known, and
    ``'camera'`` (3, 3), the background's affine map frame t -> frame 0 (the background
    predictor's convention) with ``'camera_valid'`` (a bool scalar). Items of other videos
    carry a zero flow that is nowhere valid and an identity camera that is not valid, so
    batches mix both.
    A ground truth of another size than the frames is resized (the flow bilinearly; a
    pixel stays valid only where all the pixels it blends were).

Test items
    ``{'video': (3, T, H, W), 'name': str}``: every frame, not augmented.

Frame size
    With ``frame_shape`` set, frames of folders and video files are resized to it (the
    authors do so for video files, and for folders of frames in training); strips are cut
    at it. Without it, frames keep their size, and :func:`collate_items` stops a batch of
    items of different sizes with a :class:`DatasetError` naming the videos.

Randomness
    Every random choice of an item (the video of an identity, the frame indices, the
    augmentation) comes from a ``numpy.random.Generator`` made for that item from
    ``(item_seed, epoch, draw)`` (``item_seed`` defaults to ``random_seed``), where ``draw`` is the item's index (the index in a
    :class:`DatasetRepeater`, so repeats of one video differ). Call :meth:`set_epoch`
    at the start of each epoch, as with ``DistributedSampler``: items then do not depend
    on the number of DataLoader workers or on which worker loads them, and a resumed run
    sees the same items. The epoch lives in shared memory, so ``set_epoch`` reaches
    persistent workers too. Until ``set_epoch`` is first called, the generator is seeded
    from PyTorch's default generator instead (which the DataLoader seeds differently in
    each worker and each epoch): items differ between epochs and workers, and are
    reproducible under ``torch.manual_seed`` for a fixed number of workers.
"""

from __future__ import annotations

import dataclasses
import math
import os
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, default_collate

from tpsmm import geometry
from tpsmm.config import DatasetParams
from tpsmm.data.augmentation import build_augmentation, build_motion_augmentation
from tpsmm.data.landmarks import NUM_LANDMARKS, LandmarkFile, mirror_landmarks
from tpsmm.data.motion_augmentation import apply_motion_augmentation, move_pair_points
from tpsmm.data.pseudo_flow import import_cv2, pseudo_flow
from tpsmm.data.video_io import (
    FrameCountChanged,
    FrameSource,
    list_videos,
    open_video,
    parse_frame_shape,
)
from tpsmm.errors import ConfigError, DatasetError, TPSMMNotice
from tpsmm.media import natural_sort_key
from tpsmm.synthetic.dataset import (
    GROUND_TRUTH_SUFFIX,
    FrameMotion,
    ground_truth_path,
    read_frame_motion,
)

__all__ = [
    "DATASET_PARAM_KEYS",
    "TEST_FRACTION",
    "DatasetRepeater",
    "FramesDataset",
    "build_dataset",
    "collate_items",
    "evaluation_dataset",
    "group_by_identity",
    "identity_of",
    "split_videos",
]

TEST_FRACTION = 0.2
#: The keys of the YAML ``dataset_params`` section (those of :class:`DatasetParams`).
DATASET_PARAM_KEYS = tuple(field.name for field in dataclasses.fields(DatasetParams))


def split_videos(
    videos: Sequence[Path], random_seed: int = 0, test_fraction: float = TEST_FRACTION
) -> tuple[list[Path], list[Path]]:
    """``(train, test)``: a seeded split of ``videos`` like scikit-learn's ``train_test_split``.

    ``ceil(test_fraction * n)`` videos go to the test set, chosen and ordered by
    ``numpy.random.RandomState(random_seed).permutation(n)`` exactly as scikit-learn does;
    the rest, in permutation order, are the training set. Deterministic for a given list
    and seed; the two parts are disjoint and together hold every video.
    """
    n = len(videos)
    n_test = math.ceil(test_fraction * n)
    permutation = np.random.RandomState(random_seed).permutation(n)
    test = [videos[i] for i in permutation[:n_test]]
    train = [videos[i] for i in permutation[n_test:]]
    return train, test


def identity_of(video: Path) -> str:
    """The identity of a video: its file name up to the first ``#`` (all of it if none)."""
    return Path(video).name.split("#")[0]


def group_by_identity(videos: Sequence[Path]) -> list[tuple[str, list[Path]]]:
    """``[(identity, videos)]`` in natural order of identity, videos in their given order."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for video in videos:
        groups[identity_of(video)].append(Path(video))
    return [(name, groups[name]) for name in sorted(groups, key=natural_sort_key)]


def _split_folder(root: Path, is_train: bool) -> Path | None:
    """The ``train/`` or ``test/`` folder to use, or ``None`` when the root has neither."""
    train_dir, test_dir = root / "train", root / "test"
    if not (train_dir.is_dir() or test_dir.is_dir()):
        return None
    folder = train_dir if is_train else test_dir
    if not folder.is_dir():
        other = "test" if is_train else "train"
        raise DatasetError(
            f"{folder}: folder not found (the dataset has {other}/, so it needs train/ and test/)"
        )
    return folder


def _select_videos(root: Path, is_train: bool, random_seed: int) -> list[Path]:
    """The videos of the wanted split; raises when there are none."""
    folder = _split_folder(root, is_train)
    if folder is not None:
        videos = list_videos(folder)
        if not videos:
            raise DatasetError(
                f"{folder}: no videos found (folders of frames, video files or strips)"
            )
        return videos
    everything = list_videos(root)
    if not everything:
        raise DatasetError(f"{root}: no videos found (folders of frames, video files or strips)")
    train, test = split_videos(everything, random_seed)
    chosen = train if is_train else test
    if not chosen:
        raise DatasetError(
            f"{root}: {len(everything)} video(s) are too few for an 80/20 train/test split; "
            "add videos or make train/ and test/ folders"
        )
    return chosen


def _note_missing_ground_truth(root: Path, videos: list[Path]) -> None:
    """Say when ``ground_truth_motion`` is on and training videos carry none (their
    pairs train with the flow and camera terms at 0)."""
    missing = sum(not ground_truth_path(video).is_file() for video in videos)
    if missing:
        share = "none" if missing == len(videos) else f"{len(videos) - missing}"
        which = "their pairs" if missing == len(videos) else "pairs of the others"
        warnings.warn(
            f"{root}: dataset_params.ground_truth_motion is on but {share} of the "
            f"{len(videos)} training videos carry ground-truth motion (<video>"
            f"{GROUND_TRUTH_SUFFIX}, written by tpsmm synth); {which} train with the flow "
            "and camera terms at 0",
            TPSMMNotice,
            stacklevel=3,
        )


def _check_root(root_dir: str | os.PathLike[str]) -> Path:
    root = Path(root_dir)
    if not root.exists():
        raise DatasetError(f"{root}: dataset folder not found")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root is not a folder")
    return root


class FramesDataset(Dataset):
    """Videos of a dataset folder as training pairs or whole test videos.

    Args:
        root_dir: the dataset folder (with ``train/`` and ``test/``, or videos directly).
        frame_shape: ``None``, ``(H, W)`` or ``(H, W, 3)``: the frame size (see module doc).
        id_sampling: in training, an item is an identity rather than a video.
        is_train: training pairs (augmented) or whole test videos.
        random_seed: seeds the 80/20 split, and every item's random choices unless
            ``item_seed`` is given.
        item_seed: seeds every item's random choices (frames, identity's video,
            augmentation) separately from the split, so a training seed can change
            them without moving videos between train and test.
        pairs_list: kept as ``self.pairs_list`` (the authors' animation pairs CSV); unused.
        augmentation_params: the YAML ``augmentation_params`` mapping (training only).
    """

    def __init__(
        self,
        root_dir: str | os.PathLike[str],
        frame_shape: Sequence[int] | None = None,
        id_sampling: bool = False,
        is_train: bool = True,
        random_seed: int = 0,
        pairs_list: str | os.PathLike[str] | None = None,
        augmentation_params: Mapping[str, Any] | None = None,
        item_seed: int | None = None,
        ground_truth_motion: bool = False,
        landmarks: bool = False,
        pseudo_flow: bool = False,
    ) -> None:
        self.root_dir = _check_root(root_dir)
        self.frame_shape = parse_frame_shape(frame_shape)
        self.id_sampling = bool(id_sampling)
        self.is_train = bool(is_train)
        for name, seed in (("random_seed", random_seed), ("item_seed", item_seed)):
            if seed is None and name == "item_seed":
                continue
            if isinstance(seed, bool) or not isinstance(seed, int):
                raise ConfigError(f"{name} must be an integer, got {seed!r}")
            if not 0 <= seed < 2**32:
                raise ConfigError(f"{name} must be in [0, 2**32), got {seed}")
        self.random_seed = random_seed
        self.item_seed = random_seed if item_seed is None else item_seed
        self.pairs_list = pairs_list
        self.transform = build_augmentation(augmentation_params)
        self.ground_truth_motion = bool(ground_truth_motion)
        self.colour_transform = self.transform.photometric()
        self.motion_augmentation = build_motion_augmentation(augmentation_params)
        self.landmarks = bool(landmarks)
        self.pseudo_flow = bool(pseudo_flow)
        if self.landmarks or self.pseudo_flow:
            moving = self.transform.moving_steps()
            if moving:
                raise ConfigError(
                    "dataset_params.landmarks and pseudo_flow take flips and motion_param "
                    f"only: {', '.join(moving)} would move the frames without their "
                    "landmarks and flow"
                )
        if self.pseudo_flow:
            import_cv2()  # a missing OpenCV fails here, not in a DataLoader worker
        self._landmark_files: dict[Path, LandmarkFile] = {}
        self.videos: list[Path] = _select_videos(self.root_dir, self.is_train, self.random_seed)
        if self.ground_truth_motion and self.is_train:
            _note_missing_ground_truth(self.root_dir, self.videos)
        self.identities: list[tuple[str, list[Path]]] = (
            group_by_identity(self.videos) if self.is_train and self.id_sampling else []
        )
        self._epoch = torch.full((1,), -1, dtype=torch.int64).share_memory_()

    def __repr__(self) -> str:
        mode = "train" if self.is_train else "test"
        return (
            f"FramesDataset({str(self.root_dir)!r}, {mode}, {len(self.videos)} videos, "
            f"{len(self)} items, frame_shape={self.frame_shape})"
        )

    def __len__(self) -> int:
        return len(self.identities) if self.identities else len(self.videos)

    @property
    def epoch(self) -> int | None:
        """The epoch set by :meth:`set_epoch`, or ``None`` before the first call."""
        value = int(self._epoch[0])
        return None if value < 0 else value

    def set_epoch(self, epoch: int) -> None:
        """Make the following items depend on ``epoch`` (>= 0); seen by all workers."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch[0] = int(epoch)

    def item_rng(self, draw: int) -> np.random.Generator:
        """The generator of item ``draw`` in the current epoch (see module doc)."""
        epoch = self.epoch
        if epoch is None:
            entropy = int(torch.randint(0, 2**62, (1,)).item())
            key = [self.item_seed, 1, entropy, draw]
        else:
            key = [self.item_seed, 0, epoch, draw]
        return np.random.default_rng(np.random.SeedSequence(key))

    def __getitem__(self, index: int) -> dict[str, Any]:
        return self.get_item(index)

    def get_item(self, index: int, draw: int | None = None) -> dict[str, Any]:
        """Item ``index`` with the random choices of draw number ``draw`` (default: index)."""
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        if not self.is_train:
            return self._test_item(self.videos[index])
        rng = self.item_rng(index if draw is None else int(draw))
        if self.identities:
            group = self.identities[index][1]
            path = group[int(rng.integers(len(group)))]
        else:
            path = self.videos[index]
        return self._train_item(path, rng)

    def _train_item(self, path: Path, rng: np.random.Generator) -> dict[str, Any]:
        source = open_video(path, self.frame_shape)
        if self.ground_truth_motion and ground_truth_path(path).is_file():
            return self._known_motion_item(path, source, rng)
        if self.landmarks or self.pseudo_flow:
            return self._measured_item(path, source, rng)
        frames = self.transform(_read_pair(source, rng)[1], rng)
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
        item: dict[str, Any] = {
            "source": clip[0].contiguous(),
            "driving": clip[1].contiguous(),
            "name": path.name,
        }
        if self.ground_truth_motion:
            item["flow"], item["flow_valid"] = _flow_tensors(None, clip.shape[-2:])
            item["camera"], item["camera_valid"] = torch.eye(3), torch.tensor(False)
        return item

    def _known_motion_item(
        self, path: Path, source: FrameSource, rng: np.random.Generator
    ) -> dict[str, Any]:
        """A pair of a video with ground truth (``tpsmm synth``): frame 0 and frame t."""
        frame = int(rng.integers(source.num_frames))
        motion = read_frame_motion(path, frame)
        frames = self.colour_transform(source.read([0, frame]), rng)
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
        item: dict[str, Any] = {
            "source": clip[0].contiguous(),
            "driving": clip[1].contiguous(),
            "name": path.name,
        }
        item["flow"], item["flow_valid"] = _flow_tensors(motion, clip.shape[-2:])
        camera = np.eye(3, dtype=np.float32) if motion is None else motion.camera
        item["camera"] = torch.from_numpy(np.ascontiguousarray(camera, dtype=np.float32))
        item["camera_valid"] = torch.tensor(motion is not None)
        if motion is not None and self.motion_augmentation is not None:
            pair, item["flow"], item["flow_valid"], item["camera"] = self.motion_augmentation(
                clip, item["flow"], item["flow_valid"], item["camera"], rng
            )
            item["source"], item["driving"] = pair[0].contiguous(), pair[1].contiguous()
        if self.landmarks:
            item["landmarks"] = torch.zeros(2, NUM_LANDMARKS, 2)
            item["landmarks_found"] = torch.zeros(2, dtype=torch.bool)
        return item

    def _measured_item(
        self, path: Path, source: FrameSource, rng: np.random.Generator
    ) -> dict[str, Any]:
        """A pair of a real video with what can be measured on it: the frames' landmarks
        (``landmarks``) and the optical flow between them (``pseudo_flow``), carried
        through the flips and ``motion_param``'s view and added motion."""
        indices, frames = _read_pair(source, rng)
        points, found = self._landmark_file(path).frames(indices)
        flips = self.transform.flips()
        do_time, do_horizontal = flips.draw(rng) if flips is not None else (False, False)
        if do_time:
            frames, points, found = frames[::-1], points[::-1], found[::-1]
        if do_horizontal:
            frames, points = frames[:, :, ::-1], mirror_landmarks(points)
        height, width = frames.shape[1:3]
        if self.pseudo_flow:
            deformation, valid = pseudo_flow(frames[0], frames[1])
            flow, flow_valid = torch.from_numpy(deformation), torch.from_numpy(valid)
        else:
            flow, flow_valid = _flow_tensors(None, (height, width))
        frames = self.colour_transform(np.ascontiguousarray(frames), rng)
        clip = torch.from_numpy(frames).permute(0, 3, 1, 2)
        camera = torch.eye(3)
        landmarks = torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32))
        if self.motion_augmentation is not None:
            view, motion = self.motion_augmentation.draw(rng)
            clip, flow, flow_valid, camera = apply_motion_augmentation(
                clip, flow, flow_valid, camera, view, motion
            )
            landmarks = move_pair_points(landmarks, view, motion)
        item: dict[str, Any] = {
            "source": clip[0].contiguous(),
            "driving": clip[1].contiguous(),
            "name": path.name,
        }
        if self.ground_truth_motion or self.pseudo_flow:
            item.update(flow=flow, flow_valid=flow_valid)
            item.update(camera=camera, camera_valid=torch.tensor(False))
        if self.landmarks:
            item["landmarks"] = landmarks
            item["landmarks_found"] = torch.from_numpy(np.ascontiguousarray(found))
        return item

    def _landmark_file(self, path: Path) -> LandmarkFile:
        """The landmarks of ``path`` (read once per process; no file: none found)."""
        if path not in self._landmark_files:
            self._landmark_files[path] = (
                LandmarkFile(path) if self.landmarks else LandmarkFile.empty(path)
            )
        return self._landmark_files[path]

    def _test_item(self, path: Path) -> dict[str, Any]:
        frames = open_video(path, self.frame_shape).read_all()
        if len(frames) == 0:
            raise DatasetError(f"{path}: video has no frames")
        video = torch.from_numpy(frames).permute(3, 0, 1, 2).contiguous()
        return {"video": video, "name": path.name}


def _flow_tensors(
    motion: FrameMotion | None, size: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ground-truth (deformation, valid) pair as (H, W, 2) float32 and (H, W) bool
    tensors of the frames' ``size``; a zero, nowhere-valid flow for None."""
    height, width = int(size[0]), int(size[1])
    if motion is None:
        return torch.zeros(height, width, 2), torch.zeros(height, width, dtype=torch.bool)
    deformation = torch.from_numpy(np.ascontiguousarray(motion[0], dtype=np.float32))
    valid = torch.from_numpy(np.ascontiguousarray(motion[1]))
    if tuple(valid.shape) != (height, width):
        deformation = geometry.resize_flow(deformation[None], height, width)[0]
        blended = F.interpolate(
            valid[None, None].float(), (height, width), mode="bilinear", align_corners=True
        )
        valid = blended[0, 0] >= 1.0
    return deformation, valid


def _read_pair(source: FrameSource, rng: np.random.Generator) -> tuple[list[int], np.ndarray]:
    """Two frames at sorted random indices (with replacement): the indices and the
    frames ``(2, H, W, 3)``."""
    num_frames = source.num_frames
    for _ in range(2):
        if num_frames == 0:
            raise DatasetError(f"{source.path}: video has no frames")
        indices = [int(i) for i in np.sort(rng.choice(num_frames, size=2, replace=True))]
        try:
            return indices, source.read(indices)
        except FrameCountChanged as change:
            num_frames = change.num_frames
    raise DatasetError(f"{source.path}: frame count keeps changing while reading")


class DatasetRepeater(Dataset):
    """``num_repeats`` passes over ``dataset`` as one epoch: index ``i`` is item ``i % n``.

    When the dataset has ``get_item(index, draw)`` (as :class:`FramesDataset`), ``i`` is
    passed as the draw number, so every repeat of a video draws its own frames;
    ``set_epoch`` is passed on.
    """

    def __init__(self, dataset: Dataset, num_repeats: int = 100) -> None:
        if isinstance(num_repeats, bool) or not isinstance(num_repeats, int) or num_repeats < 1:
            raise ConfigError(f"num_repeats must be a positive integer, got {num_repeats!r}")
        self.dataset = dataset
        self.num_repeats = num_repeats

    def __len__(self) -> int:
        return self.num_repeats * len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        index = int(index)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        base = index % len(self.dataset)  # type: ignore[arg-type]
        get_item = getattr(self.dataset, "get_item", None)
        if get_item is not None:
            return get_item(base, draw=index)
        return self.dataset[base]

    def set_epoch(self, epoch: int) -> None:
        """Pass the epoch on to the wrapped dataset, if it takes one."""
        set_epoch = getattr(self.dataset, "set_epoch", None)
        if set_epoch is not None:
            set_epoch(epoch)


def collate_items(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``default_collate`` that first checks that all items have frames of one size.

    Raises :class:`DatasetError` naming two videos of different frame sizes, instead of
    PyTorch's stack error.
    """
    for key in ("source", "driving", "video"):
        shapes = [(tuple(item[key].shape), item.get("name", "?")) for item in batch if key in item]
        for shape, name in shapes[1:]:
            if shape[-2:] != shapes[0][0][-2:]:
                first_shape, first_name = shapes[0]
                raise DatasetError(
                    f"frames of different sizes in one batch: {first_name} is "
                    f"{first_shape[-2]}x{first_shape[-1]}, {name} is {shape[-2]}x{shape[-1]}; "
                    "set dataset_params.frame_shape or a crop_param"
                )
    return default_collate(list(batch))


def build_dataset(
    dataset_params: Mapping[str, Any],
    is_train: bool,
    random_seed: int = 0,
    item_seed: int | None = None,
) -> FramesDataset:
    """A :class:`FramesDataset` from the YAML ``dataset_params`` mapping.

    Keys: ``root_dir`` (required), ``frame_shape``, ``id_sampling``, ``pairs_list``,
    ``augmentation_params``, ``ground_truth_motion``; an unknown key or a wrong type raises
    :class:`tpsmm.errors.ConfigError` naming it.
    """
    if not isinstance(dataset_params, Mapping):
        raise ConfigError(f"dataset_params must be a mapping, got {dataset_params!r}")
    for key in dataset_params:
        if key not in DATASET_PARAM_KEYS:
            known = ", ".join(DATASET_PARAM_KEYS)
            raise ConfigError(f"dataset_params: unknown key {key!r} (known: {known})")
    root_dir = dataset_params.get("root_dir")
    if not isinstance(root_dir, (str, os.PathLike)) or not str(root_dir):
        raise ConfigError(f"dataset_params.root_dir must be a path, got {root_dir!r}")
    switches = {
        key: dataset_params.get(key, False)
        for key in ("id_sampling", "ground_truth_motion", "landmarks", "pseudo_flow")
    }
    for key, value in switches.items():
        if not isinstance(value, bool):
            raise ConfigError(f"dataset_params.{key} must be true or false, got {value!r}")
    return FramesDataset(
        root_dir,
        frame_shape=parse_frame_shape(
            dataset_params.get("frame_shape"), "dataset_params.frame_shape"
        ),
        is_train=is_train,
        random_seed=random_seed,
        pairs_list=dataset_params.get("pairs_list"),
        augmentation_params=dataset_params.get("augmentation_params"),
        item_seed=item_seed,
        **switches,
    )


def evaluation_dataset(dataset_params: DatasetParams, root: str | os.PathLike) -> FramesDataset:
    """The test videos under ``root`` read as a model's ``dataset_params`` describe them
    (frame shape, identity sampling, ground truth), for reconstruction and benchmarks."""
    params = dataclasses.asdict(dataset_params)
    params["root_dir"] = str(Path(root))
    return build_dataset(params, is_train=False)
