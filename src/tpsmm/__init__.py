"""tpsmm: the Thin-Plate Spline Motion Model (Zhao & Zhang, CVPR 2022) for image animation.

>>> import tpsmm
>>> model = tpsmm.load_model("vox.pth.tar")            # the authors' checkpoint
>>> frames = tpsmm.animate(model, source, driving)     # (T, H, W, 3) float32 in [0, 1]

Layout: :mod:`tpsmm.geometry` (TPS, grids, warping), :mod:`tpsmm.networks` (the networks),
:mod:`tpsmm.model` (:class:`TPSMM`), :mod:`tpsmm.config`, :mod:`tpsmm.checkpoint`,
:mod:`tpsmm.animation`, :mod:`tpsmm.media` (images and video), :mod:`tpsmm.data`,
:mod:`tpsmm.losses`, :mod:`tpsmm.training`, :mod:`tpsmm.evaluation`, :mod:`tpsmm.export`
(ONNX and onnxruntime), :mod:`tpsmm.cli`, :mod:`tpsmm.signals` (SIGTERM as an exception).

The names below are imported on first use, so that ``import tpsmm.cli`` (the ``tpsmm``
command) starts without importing torch and can install its signal handlers first.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS: dict[str, str] = {
    "MODES": "tpsmm.animation",
    "Animator": "tpsmm.animation",
    "animate": "tpsmm.animation",
    "AnimationSummary": "tpsmm.animation.output",
    "VideoAnimator": "tpsmm.animation.pipeline",
    "animate_video": "tpsmm.animation.pipeline",
    "load_animation_model": "tpsmm.animation.animator",
    "load_model": "tpsmm.checkpoint",
    "save_checkpoint": "tpsmm.checkpoint",
    "PRESETS": "tpsmm.config",
    "Config": "tpsmm.config",
    "load_config": "tpsmm.config",
    "preset": "tpsmm.config",
    "CheckpointError": "tpsmm.errors",
    "ConfigError": "tpsmm.errors",
    "TPSMMError": "tpsmm.errors",
    "OnnxModel": "tpsmm.export",
    "export_onnx": "tpsmm.export",
    "load_onnx": "tpsmm.export",
    "TPSMM": "tpsmm.model",
}

# The same names, for `from tpsmm import *` and static tools (a test keeps them equal).
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

if TYPE_CHECKING:
    from tpsmm.animation import MODES, Animator, animate
    from tpsmm.animation.animator import load_animation_model
    from tpsmm.animation.output import AnimationSummary
    from tpsmm.animation.pipeline import VideoAnimator, animate_video
    from tpsmm.checkpoint import load_model, save_checkpoint
    from tpsmm.config import PRESETS, Config, load_config, preset
    from tpsmm.errors import CheckpointError, ConfigError, TPSMMError
    from tpsmm.export import OnnxModel, export_onnx, load_onnx
    from tpsmm.model import TPSMM


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tpsmm' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
