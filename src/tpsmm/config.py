"""Typed, validated configuration mirroring the authors' YAML files.

A :class:`Config` has the sections of the authors' files (``dataset_params``,
``model_params`` with ``common_params`` / ``generator_params`` / ``dense_motion_params`` /
``avd_network_params``, ``train_params``, ``train_avd_params``, ``visualizer_params``);
their YAML files load as they are (:func:`load_config`). Bundled presets hold the
authors' values: ``vox-256``, ``taichi-256``, ``ted-384``, ``mgif-256``, and ``demo`` the
bundled demo model's (:func:`preset`). An unknown key or an invalid value raises
:class:`tpsmm.errors.ConfigError` naming it, e.g. ``model_params.common_params.num_tps``.

Switches for the paper's ablations: ``common_params.num_tps`` (K),
``common_params.multi_mask`` (multi-resolution masks), ``train_params.tps_dropout``
(TPS dropout), ``common_params.bg`` (background predictor).
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tpsmm.errors import ConfigError, first_line

#: The keypoint detector's heads (``model_params.common_params.keypoint_head``).
KEYPOINT_HEADS = ("regression", "heatmap")

#: The authors' configurations.
AUTHOR_PRESETS: tuple[str, ...] = ("vox-256", "taichi-256", "ted-384", "mgif-256")
#: Every bundled preset: the authors' and ``demo`` (the bundled demo model's).
PRESETS: tuple[str, ...] = (*AUTHOR_PRESETS, "demo")
#: Smallest image (pixels) VGG-19 takes up to relu5_1, after four 2x poolings.
MIN_PERCEPTUAL_SIZE = 16


@dataclass(frozen=True)
class CommonParams:
    """Shared by every network. ``bg``: background predictor on; ``multi_mask``: the four
    occlusion masks (else one). ``resnet_width`` (ours; not in the authors' files): the
    first-stage width of the keypoint detector's and background predictor's ResNet-18,
    64 in the authors' model; the bundled ``demo`` model uses a narrower one.
    ``keypoint_head`` (ours): ``regression`` (the authors' keypoint detector: the pooled
    ResNet features through a linear layer) or ``heatmap`` (a heatmap per keypoint on the
    ResNet's stride-4 features, its soft-argmax; :mod:`tpsmm.networks.keypoint_detector`)."""

    num_tps: int = 10
    num_channels: int = 3
    bg: bool = True
    multi_mask: bool = True
    resnet_width: int = 64
    keypoint_head: str = "regression"

    def validate(self, where: str) -> None:
        _positive(self, where, "num_tps", "num_channels", "resnet_width")
        if self.keypoint_head not in KEYPOINT_HEADS:
            raise ConfigError(
                f"{where}.keypoint_head must be one of {', '.join(KEYPOINT_HEADS)}, "
                f"got {self.keypoint_head!r}"
            )


@dataclass(frozen=True)
class GeneratorParams:
    """The inpainting network."""

    block_expansion: int = 64
    max_features: int = 512
    num_down_blocks: int = 3

    def validate(self, where: str) -> None:
        _positive(self, where, "block_expansion", "max_features", "num_down_blocks")


@dataclass(frozen=True)
class DenseMotionParams:
    """The dense motion network; it works at ``scale_factor`` of the frame size."""

    block_expansion: int = 64
    max_features: int = 1024
    num_blocks: int = 5
    scale_factor: float = 0.25
    kp_variance: float = 0.01

    def validate(self, where: str) -> None:
        _positive(self, where, "block_expansion", "max_features", "num_blocks", "kp_variance")
        if not 0 < self.scale_factor <= 1:
            raise ConfigError(f"{where}.scale_factor must be in (0, 1], got {self.scale_factor}")


@dataclass(frozen=True)
class AVDParams:
    """The AVD network's bottlenecks."""

    id_bottle_size: int = 128
    pose_bottle_size: int = 128

    def validate(self, where: str) -> None:
        _positive(self, where, "id_bottle_size", "pose_bottle_size")


@dataclass(frozen=True)
class ModelParams:
    common_params: CommonParams = field(default_factory=CommonParams)
    generator_params: GeneratorParams = field(default_factory=GeneratorParams)
    dense_motion_params: DenseMotionParams = field(default_factory=DenseMotionParams)
    avd_network_params: AVDParams = field(default_factory=AVDParams)

    def validate(self, where: str) -> None:
        if self.common_params.multi_mask:
            ups = math.log2(1 / self.dense_motion_params.scale_factor)
            if ups != round(ups) or not 0 <= ups <= 3:
                raise ConfigError(
                    f"{where}.dense_motion_params.scale_factor must be 1, 0.5, 0.25 or 0.125 "
                    f"with multi_mask on, got {self.dense_motion_params.scale_factor}"
                )
            if self.generator_params.num_down_blocks != 3:
                raise ConfigError(
                    f"{where}.generator_params.num_down_blocks must be 3 with multi_mask on "
                    f"(four occlusion masks), got {self.generator_params.num_down_blocks}"
                )


@dataclass(frozen=True)
class TransformParams:
    """The random TPS of the equivariance loss."""

    sigma_affine: float = 0.05
    sigma_tps: float = 0.005
    points_tps: int = 5

    def validate(self, where: str) -> None:
        _non_negative(self, where, "sigma_affine", "sigma_tps")
        _positive(self, where, "points_tps")


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss term; ``perceptual`` has one weight per VGG-19 layer (5).

    ``pixel`` and ``pixel_deformed`` (ours, default 0 = off): the weights of L1 losses on
    the same image pyramid (:class:`tpsmm.losses.PixelPyramidLoss`) of the prediction and
    of the source warped by the flow at each scale, for training without ImageNet VGG-19
    weights; set every ``perceptual`` weight to 0 to train without VGG-19. With ``flow``
    on, ``pixel_deformed`` skips the pairs whose true motion is known: there the flow
    loss takes its place, counted only where the motion is visible in the source (the
    warped source would also be compared on the pixels the motion uncovered, which no
    flow can match). ``flow`` (ours, default 0 = off): the weight of an L1 loss between
    the predicted deformation and the true one, on the valid pixels of training pairs
    that carry one (``dataset_params.ground_truth_motion``, videos of ``tpsmm synth``).
    With the same ground truth, ``camera`` (ours, default 0 = off) supervises the
    background predictor's matrix by the true camera motion, and ``keypoint_motion``
    (ours, default 0 = off) asks every driving keypoint on a valid pixel to land, moved by
    the true deformation, on its source keypoint (:mod:`tpsmm.losses`).
    ``camera_squared`` (ours, default 0 = off) is the camera loss with the squared
    distance, the form the background predictor learns from at small camera motions.
    ``landmark_keypoints`` and ``landmark_flow`` (ours, default 0 = off) supervise faces
    by the 68 landmarks of the training frames (``dataset_params.landmarks``): the
    keypoints of the first TPS transforms on the face's parts, and the deformation at each
    driving landmark towards the same landmark in the source
    (:mod:`tpsmm.landmark_losses`); ``landmark_regions`` (ours, default 0 = off) is an L1
    loss on the generated frame inside the driving frame's eye and mouth regions, which
    the whole frame's terms leave nearly unweighted; ``landmark_parts`` (ours, default 0
    = off) asks the dense motion network to give each face part's landmarks to that
    part's transform (a cross-entropy on the contribution maps);
    ``landmark_keypoint_motion`` (ours, default 0 = off) compares the keypoints' motion
    between the two frames with the landmarks' (what relative animation transfers: a
    per-face offset of the keypoints cancels, a blink's few pixels do not), and
    ``landmark_opening`` (ours, default 0 = off) the same for how far each eye's lids and
    the lips open.
    With only ``camera``, ``camera_squared`` and ``bg`` weighted, the stage trains the
    background predictor alone: the other networks are neither run nor changed.

    The fields' order (the authors' terms, then ours) is the order of the loss dict
    (:data:`tpsmm.training.LOSS_NAMES`).
    """

    perceptual: list[float] = field(default_factory=lambda: [10.0] * 5)
    equivariance_value: float = 10.0
    warp_loss: float = 10.0
    bg: float = 10.0
    pixel: float = 0.0
    pixel_deformed: float = 0.0
    flow: float = 0.0
    camera: float = 0.0
    keypoint_motion: float = 0.0
    camera_squared: float = 0.0
    landmark_keypoints: float = 0.0
    landmark_flow: float = 0.0
    landmark_regions: float = 0.0
    landmark_parts: float = 0.0
    landmark_keypoint_motion: float = 0.0
    landmark_opening: float = 0.0

    def background_only(self) -> bool:
        """Whether only the background predictor's terms (``bg``, ``camera``,
        ``camera_squared``) have weights: a stage that trains it alone."""
        motion = (
            self.equivariance_value,
            self.warp_loss,
            self.pixel,
            self.pixel_deformed,
            self.flow,
            self.keypoint_motion,
            self.landmark_keypoints,
            self.landmark_flow,
            self.landmark_regions,
            self.landmark_parts,
            self.landmark_keypoint_motion,
            self.landmark_opening,
        )
        return sum(self.perceptual) == 0 and all(weight == 0 for weight in motion)

    def validate(self, where: str) -> None:
        if len(self.perceptual) != 5:
            raise ConfigError(
                f"{where}.perceptual needs 5 weights (relu1_1 .. relu5_1), "
                f"got {len(self.perceptual)}"
            )
        scalars = [f.name for f in dataclasses.fields(self) if f.name != "perceptual"]
        _non_negative(self, where, *scalars)


@dataclass(frozen=True)
class TrainParams:
    """The generator's training stage (the authors' ``train_params``).

    ``tps_dropout`` (ours, default on) switches TPS dropout off for the ablation;
    ``dataloader_workers`` and ``checkpoint_freq`` (in epochs) are optional in the YAML.
    """

    num_epochs: int = 100
    num_repeats: int = 75
    epoch_milestones: list[int] = field(default_factory=lambda: [70, 90])
    lr_generator: float = 2.0e-4
    batch_size: int = 28
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5, 0.25, 0.125])
    dropout_epoch: int = 35
    dropout_maxp: float = 0.3
    dropout_startp: float = 0.1
    dropout_inc_epoch: int = 10
    bg_start: int = 10
    transform_params: TransformParams = field(default_factory=TransformParams)
    loss_weights: LossWeights = field(default_factory=LossWeights)
    tps_dropout: bool = True
    dataloader_workers: int = 4
    checkpoint_freq: int = 10

    def validate(self, where: str) -> None:
        _positive(self, where, "num_epochs", "num_repeats", "batch_size", "dropout_inc_epoch")
        _positive(self, where, "lr_generator", "checkpoint_freq")
        _non_negative(self, where, "dropout_epoch", "bg_start", "dataloader_workers")
        for name in ("dropout_maxp", "dropout_startp"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ConfigError(f"{where}.{name} must be in [0, 1), got {value}")
        for scale in self.scales:
            if not 0 < scale <= 1:
                raise ConfigError(f"{where}.scales must be in (0, 1], got {scale}")

    def dropout_probability(self, epoch: int) -> float | None:
        """TPS dropout probability at ``epoch``: min(startp + epoch * maxp /
        dropout_inc_epoch, maxp) before ``dropout_epoch``; None (plain softmax) after it
        or when ``tps_dropout`` is off."""
        if not self.tps_dropout or epoch >= self.dropout_epoch:
            return None
        return min(
            epoch / self.dropout_inc_epoch * self.dropout_maxp + self.dropout_startp,
            self.dropout_maxp,
        )


@dataclass(frozen=True)
class TrainAVDParams:
    """The AVD training stage (the authors' ``train_avd_params``)."""

    num_epochs: int = 200
    num_repeats: int = 300
    batch_size: int = 256
    dataloader_workers: int = 4
    epoch_milestones: list[int] = field(default_factory=lambda: [140, 180])
    lr: float = 1.0e-3
    lambda_shift: float = 1.0
    lambda_affine: float = 1.0
    random_scale: float = 0.25
    checkpoint_freq: int = 50

    def validate(self, where: str) -> None:
        _positive(self, where, "num_epochs", "num_repeats", "batch_size", "lr")
        _non_negative(self, where, "dataloader_workers", "lambda_shift", "random_scale")


@dataclass(frozen=True)
class DatasetParams:
    """Where the training videos are and how they are read (the authors'
    ``dataset_params``); ``augmentation_params`` is validated by :mod:`tpsmm.data`.

    ``ground_truth_motion`` (ours, default off): training pairs of videos that carry a
    ground-truth file (``tpsmm synth``) take frame 0 as the source and carry its true
    deformation, for ``train_params.loss_weights.flow`` (see :mod:`tpsmm.data.datasets`).
    ``landmarks`` (ours, default off): training pairs of videos with a landmark file
    (``tpsmm dataset landmarks``) carry both frames' 68 facial landmarks, for the
    ``landmark_*`` losses. ``pseudo_flow`` (ours, default off): pairs of videos without
    ground truth carry an optical flow measured between the two frames (OpenCV's DIS,
    forward and backward, kept where the two agree) in its place, for the ``flow`` loss
    (:mod:`tpsmm.data.pseudo_flow`).
    """

    root_dir: str | None = None
    frame_shape: list[int] | None = None
    id_sampling: bool = False
    pairs_list: str | None = None
    augmentation_params: dict[str, Any] = field(default_factory=dict)
    ground_truth_motion: bool = False
    landmarks: bool = False
    pseudo_flow: bool = False

    def validate(self, where: str) -> None:
        if self.frame_shape is not None and (
            len(self.frame_shape) not in (2, 3) or min(self.frame_shape) <= 0
        ):
            raise ConfigError(
                f"{where}.frame_shape must be [height, width] or [height, width, channels], "
                f"got {self.frame_shape}"
            )


@dataclass(frozen=True)
class VisualizerParams:
    kp_size: int = 5
    draw_border: bool = True
    colormap: str = "gist_rainbow"


@dataclass(frozen=True)
class Config:
    """A whole configuration. ``frame_size`` is the square frame size the model works at
    (``dataset_params.frame_shape`` when given, else ``default_frame_size``)."""

    dataset_params: DatasetParams = field(default_factory=DatasetParams)
    model_params: ModelParams = field(default_factory=ModelParams)
    train_params: TrainParams = field(default_factory=TrainParams)
    train_avd_params: TrainAVDParams = field(default_factory=TrainAVDParams)
    visualizer_params: VisualizerParams = field(default_factory=VisualizerParams)
    default_frame_size: int = 256
    name: str | None = None

    @property
    def frame_size(self) -> int:
        shape = self.dataset_params.frame_shape
        return int(shape[0]) if shape else self.default_frame_size

    @property
    def frame_size_key(self) -> str:
        """The key that sets :attr:`frame_size`, for messages."""
        return (
            "dataset_params.frame_shape"
            if self.dataset_params.frame_shape
            else "default_frame_size"
        )

    def validate(self, where: str) -> None:
        """The networks' depths must fit the frame size: the inpainting network halves
        the frame ``num_down_blocks`` times and the dense motion network's hourglass its
        ``scale_factor``-sized input ``num_blocks`` times, each to a whole size (the up
        blocks' outputs are joined with the down blocks' inputs)."""
        size, size_key = self.frame_size, self.frame_size_key
        if size < 1:
            raise ConfigError(f"{size_key} must give a positive frame size, got {size}")
        down = self.model_params.generator_params.num_down_blocks
        if size % 2**down:
            raise ConfigError(
                f"model_params.generator_params.num_down_blocks = {down} halves the frame "
                f"{down} times, so the frame size ({size_key}: {size}) must be a multiple "
                f"of {2**down}"
            )
        motion = self.model_params.dense_motion_params
        scaled = size * motion.scale_factor
        if scaled != int(scaled) or int(scaled) % 2**motion.num_blocks:
            fits = _halvings(scaled)
            raise ConfigError(
                f"model_params.dense_motion_params.num_blocks = {motion.num_blocks} halves "
                f"the motion network's input {motion.num_blocks} times, but that input is "
                f"{scaled:g} pixels (frame size {size} from {size_key} times "
                f"model_params.dense_motion_params.scale_factor {motion.scale_factor:g}), "
                f"which halves to a whole size {fits} times: use num_blocks <= {fits} or a "
                f"larger frame size"
            )

    def check_training(self) -> None:
        """Raise ConfigError unless training fits the frame size: the perceptual loss
        runs VGG-19 up to relu5_1 (four 2x poolings) on the frame at each of
        ``train_params.scales``, which needs at least :data:`MIN_PERCEPTUAL_SIZE` pixels.
        A background-only stage needs a background predictor from epoch 0, and some
        weight must be non-zero."""
        size = self.frame_size
        for scale in self.train_params.scales:
            if size * scale < MIN_PERCEPTUAL_SIZE and sum(
                self.train_params.loss_weights.perceptual
            ):
                raise ConfigError(
                    f"train_params.scales: {scale:g} of the frame size ({self.frame_size_key}: "
                    f"{size}) is {size * scale:g} pixels, under the {MIN_PERCEPTUAL_SIZE} the "
                    f"perceptual loss's VGG-19 needs; drop that scale or use a larger frame size"
                )

        weights = self.train_params.loss_weights
        if weights.background_only():
            where = "train_params.loss_weights"
            if weights.bg == weights.camera == weights.camera_squared == 0:
                raise ConfigError(f"every weight of {where} is 0: nothing to train")
            if not self.common.bg:
                raise ConfigError(
                    f"{where} weighs only the background predictor's terms, but "
                    "model_params.common_params.bg is false (no background predictor)"
                )
            if self.train_params.bg_start != 0:
                raise ConfigError(
                    f"{where} weighs only the background predictor's terms, so "
                    "train_params.bg_start must be 0 (it trains from the first epoch)"
                )

    @property
    def common(self) -> CommonParams:
        return self.model_params.common_params

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts and lists (YAML- and JSON-serialisable)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Config:
        """A copy with dotted-path changes, validated, e.g.
        ``cfg.replace(**{"model_params.common_params.num_tps": 5})``."""
        data = self.to_dict()
        for dotted, value in changes.items():
            node = data
            *parents, leaf = dotted.split(".")
            for key in parents:
                if not isinstance(node.get(key), dict):
                    raise ConfigError(f"unknown config key {dotted!r}")
                node = node[key]
            if leaf not in node:
                raise ConfigError(f"unknown config key {dotted!r}")
            node[leaf] = value
        return config_from_dict(data)


def config_from_dict(data: Mapping[str, Any], *, name: str | None = None) -> Config:
    """Build and validate a :class:`Config` from the authors' nested mapping.

    Missing sections and keys take the defaults (the vox-256 values); unknown keys and
    values of the wrong type raise :class:`ConfigError` naming the dotted key.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of sections, got {type(data).__name__}")
    values = dict(data)
    if name is not None:
        values["name"] = name
    return _build(Config, values, "")


def load_config(source: str | Path | Mapping[str, Any] | Config | None) -> Config:
    """A :class:`Config` from a preset name, a YAML file path, a mapping, or a Config.

    ``None`` gives the ``vox-256`` preset. A YAML file's name (without suffix) becomes
    the config's ``name`` unless the file sets one; a name ending in ``-<digits>`` (the
    authors' ``ted-384.yaml``) sets ``default_frame_size`` unless the file sets it.
    """
    if source is None:
        return preset("vox-256")
    if isinstance(source, Config):
        return source
    if isinstance(source, Mapping):
        return config_from_dict(source)
    text = str(source)
    if text in PRESETS:
        return preset(text)
    path = Path(text)
    if not path.is_file():
        raise ConfigError(
            f"config {text!r} is neither a preset ({', '.join(PRESETS)}) nor a YAML file"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"cannot read config {path}: {_yaml_problem(error)}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"cannot read config {path}: {first_line(error, limit=None)}") from None
    if data is None:
        raise ConfigError(f"config {path} is empty")
    if isinstance(data, Mapping):
        data = dict(data)
        size = re.search(r"-(\d+)$", path.stem)
        if size and "default_frame_size" not in data:
            # The authors name the frame size in the file name (ted-384.yaml).
            data["default_frame_size"] = int(size.group(1))
        if "name" not in data:
            data["name"] = path.stem
    return config_from_dict(data)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """``line L, column C: what is wrong`` for a YAML syntax error (1-based, where the
    parser found it), e.g. ``line 3, column 9: mapping values are not allowed here``."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or first_line(error, limit=None)
    context = getattr(error, "context", None)
    if context:
        problem = f"{problem} ({context})"
    if mark is None:
        return problem
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"


def preset(name: str) -> Config:
    """One of the bundled presets (:data:`PRESETS`): the authors' values, or ``demo``."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    text = resources.files("tpsmm.configs").joinpath(f"{name}.yaml").read_text()
    return config_from_dict(yaml.safe_load(text), name=name)


def _build(cls: type, values: Mapping[str, Any] | None, where: str):
    """Instantiate dataclass ``cls`` from ``values``, checking keys and types."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {values!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            known = ", ".join(sorted(names))
            raise ConfigError(f"unknown config key {_join(where, key)!r} (known: {known})")
    kwargs = {key: _convert(hints[key], value, _join(where, key)) for key, value in values.items()}
    instance = cls(**kwargs)
    if hasattr(instance, "validate"):
        instance.validate(where or "config")
    return instance


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _convert(hint: Any, value: Any, where: str) -> Any:
    """Check (and where lossless, convert) ``value`` against the type ``hint``."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _convert(option, value, where)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    if origin is list:
        (item,) = typing.get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        return [_convert(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where} must be a mapping, got {value!r}")
        return dict(value)
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return int(value)
    if hint is float:
        if isinstance(value, str):
            try:  # YAML 1.1 reads "2e-4" (no dot) as a string
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    if hint is Any:
        return value
    raise TypeError(f"unsupported config type {hint!r} at {where}")


def _halvings(size: float) -> int:
    """How many times ``size`` halves to a whole number (0 when it is not whole)."""
    if size != int(size) or size < 1:
        return 0
    count, whole = 0, int(size)
    while whole % 2 == 0:
        whole, count = whole // 2, count + 1
    return count


def _positive(obj: Any, where: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ConfigError(f"{where}.{name} must be positive, got {value}")


def _non_negative(obj: Any, where: str, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        if value < 0:
            raise ConfigError(f"{where}.{name} must not be negative, got {value}")
