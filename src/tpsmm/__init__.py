"""tpsmm: the Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022) for image animation.

>>> import tpsmm
>>> model = tpsmm.load_model("vox.pth.tar")            # the authors' checkpoint
>>> frames = tpsmm.animate(model, source, driving)     # (T, H, W, 3) float32 in [0, 1]

Layout: :mod:`tpsmm.geometry` (TPS, grids, warping), :mod:`tpsmm.networks` (the networks),
:mod:`tpsmm.model` (:class:`TPSMM`), :mod:`tpsmm.config`, :mod:`tpsmm.checkpoint`,
:mod:`tpsmm.animation`, :mod:`tpsmm.media` (images and video), :mod:`tpsmm.data`,
:mod:`tpsmm.losses`, :mod:`tpsmm.training`, :mod:`tpsmm.evaluation`, :mod:`tpsmm.export`
(ONNX and onnxruntime), :mod:`tpsmm.cli`.
"""

from tpsmm.animation import MODES, Animator, animate
from tpsmm.animation.pipeline import (
    AnimationSummary,
    VideoAnimator,
    animate_video,
    load_animation_model,
)
from tpsmm.checkpoint import load_model, save_checkpoint
from tpsmm.config import PRESETS, Config, load_config, preset
from tpsmm.errors import CheckpointError, ConfigError, TPSMMError
from tpsmm.export import OnnxModel, export_onnx, load_onnx
from tpsmm.model import TPSMM

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "PRESETS",
    "TPSMM",
    "AnimationSummary",
    "Animator",
    "CheckpointError",
    "Config",
    "ConfigError",
    "OnnxModel",
    "TPSMMError",
    "VideoAnimator",
    "animate",
    "animate_video",
    "export_onnx",
    "load_animation_model",
    "load_config",
    "load_model",
    "load_onnx",
    "preset",
    "save_checkpoint",
]
