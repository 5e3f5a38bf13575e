"""Export for deployment: ONNX graphs of the streaming animation
(:func:`export_onnx`, ``tpsmm export``; the graphs in :mod:`.graphs`, the manifest in
:mod:`.manifest`) and the onnxruntime backend that runs them (:class:`OnnxModel`,
:func:`load_onnx`, ``tpsmm animate --backend onnxruntime``).

onnx and onnxruntime are imported only when used (the ``[onnx]`` extra).
"""

from tpsmm.export.manifest import Manifest
from tpsmm.export.onnx_export import export_onnx
from tpsmm.export.runtime import OnnxAnimator, OnnxModel, load_onnx

__all__ = ["Manifest", "OnnxAnimator", "OnnxModel", "export_onnx", "load_onnx"]
