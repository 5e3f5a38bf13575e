"""The ``[onnx]`` extra: one-line errors when onnx or onnxruntime is missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from tpsmm.errors import TPSMMError

INSTALL_HINT = "pip install 'tpsmm[onnx]'"


def _require(module: str, purpose: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise TPSMMError(f"{purpose} needs the {module} package: {INSTALL_HINT}") from None


def require_onnx(purpose: str = "export") -> ModuleType:
    """The ``onnx`` module, or a one-line TPSMMError saying how to install it."""
    return _require("onnx", purpose)


def require_onnxruntime(purpose: str = "--backend onnxruntime") -> ModuleType:
    """The ``onnxruntime`` module, or a one-line TPSMMError saying how to install it."""
    return _require("onnxruntime", purpose)
