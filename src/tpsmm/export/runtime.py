"""The onnxruntime backend: animation with the graphs of ``tpsmm export``.

>>> model = tpsmm.load_onnx("vox-onnx")                 # an export folder
>>> frames = tpsmm.animate(model, source, driving)      # as with a TPSMM
>>> tpsmm.animate_video(model, "face.png", "talk.mp4", "out.mp4")

:class:`OnnxModel` is an :class:`tpsmm.animation.backend.AnimationBackend`, so the
streaming pipeline, the pairs job and ``tpsmm animate --backend onnxruntime`` run it
exactly as they run PyTorch. Its animator runs ``source.onnx`` once per source,
``reference.onnx`` once per driving video (relative mode) and the mode's frames graph
once per batch; with a resolution above the model's size, ``render.onnx`` after it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from tpsmm.animation.backend import FrameAnimator, default_batch_size, keypoints_need_torch
from tpsmm.animation.keypoints import check_mode
from tpsmm.animation.resolution import animator_source
from tpsmm.errors import TPSMMError, first_line
from tpsmm.export.manifest import FRAMES_OUTPUTS, Manifest
from tpsmm.export.requirements import require_onnxruntime
from tpsmm.media.tensors import check_batch, check_frames, check_frames_shape

#: onnxruntime's graph optimisation levels by name.
OPTIMIZATION_LEVELS = ("disable", "basic", "extended", "all")
EXECUTION_MODES = ("sequential", "parallel")
CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"


def resolve_providers(device: str, available: list[str]) -> list[str]:
    """onnxruntime execution providers for ``auto`` (CUDA when onnxruntime has it, else
    the CPU), ``cpu`` or ``cuda`` (CUDA, with the CPU for what CUDA lacks).

    Raises:
        TPSMMError: an unknown device, or ``cuda`` without onnxruntime's CUDA provider.
    """
    kind = device.split(":", 1)[0]
    if kind == "auto":
        kind = "cuda" if CUDA_PROVIDER in available else "cpu"
    if kind == "cpu":
        return [CPU_PROVIDER]
    if kind == "cuda":
        if CUDA_PROVIDER not in available:
            raise TPSMMError(
                "device cuda: this onnxruntime has no CUDA execution provider "
                "(install onnxruntime-gpu, or use --device cpu)"
            )
        return [CUDA_PROVIDER, CPU_PROVIDER]
    raise TPSMMError(f"device {device!r}: the onnxruntime backend runs on cpu or cuda")


class OnnxModel:
    """An ONNX export folder, run by onnxruntime.

    Args:
        folder: written by ``tpsmm export`` (``manifest.json`` and the graphs).
        device: ``auto`` | ``cpu`` | ``cuda`` (see :func:`resolve_providers`).
        optimization: onnxruntime's graph optimisation level, one of
            :data:`OPTIMIZATION_LEVELS` (default ``all``).
        threads: intra-op threads (None: onnxruntime's default, one per core).
        inter_op_threads: threads between operators (parallel execution mode only).
        execution_mode: ``sequential`` (default) or ``parallel``.

    Sessions are created when a graph is first used (a few seconds each: onnxruntime
    optimises the graph and packs its weights).

    Raises:
        TPSMMError: onnxruntime missing, an unreadable export, a bad option.
    """

    backend_name = "onnxruntime"

    def __init__(
        self,
        folder: str | os.PathLike,
        *,
        device: str = "auto",
        optimization: str = "all",
        threads: int | None = None,
        inter_op_threads: int | None = None,
        execution_mode: str = "sequential",
    ):
        self.ort = require_onnxruntime()
        self.folder = Path(folder)
        self.manifest = Manifest.read(self.folder)
        self.providers = resolve_providers(device, self.ort.get_available_providers())
        if optimization not in OPTIMIZATION_LEVELS:
            raise TPSMMError(
                f"unknown optimisation level {optimization!r}; "
                f"choose one of {', '.join(OPTIMIZATION_LEVELS)}"
            )
        if execution_mode not in EXECUTION_MODES:
            raise TPSMMError(
                f"unknown execution mode {execution_mode!r}; "
                f"choose one of {', '.join(EXECUTION_MODES)}"
            )
        self.options = {
            "optimization": optimization,
            "threads": threads,
            "inter_op_threads": inter_op_threads,
            "execution_mode": execution_mode,
        }
        self._sessions: dict[str, Any] = {}

    @property
    def frame_size(self) -> int:
        return self.manifest.frame_size

    @property
    def device(self) -> str:
        """``cuda`` or ``cpu``: where the frames graphs run."""
        return "cuda" if self.providers[0] == CUDA_PROVIDER else "cpu"

    def default_batch_size(self) -> int:
        return default_batch_size(self.device)

    def describe(self) -> str:
        """``float32 on cpu (onnxruntime)``: the graphs are exported in float32."""
        return f"float32 on {self.device} (onnxruntime)"

    def session_options(self) -> Any:
        """onnxruntime SessionOptions from this model's options."""
        ort = self.ort
        options = ort.SessionOptions()
        levels = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        options.graph_optimization_level = levels[self.options["optimization"]]
        if self.options["threads"] is not None:
            options.intra_op_num_threads = self.options["threads"]
        if self.options["inter_op_threads"] is not None:
            options.inter_op_num_threads = self.options["inter_op_threads"]
        options.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL
            if self.options["execution_mode"] == "parallel"
            else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        return options

    def session(self, name: str) -> Any:
        """The onnxruntime session of graph ``name`` (created on first use)."""
        if name not in self._sessions:
            graph = self.manifest.graphs.get(name)
            if graph is None:
                raise TPSMMError(f"{self.folder}: this ONNX export has no {name} graph")
            path = self.folder / graph.file
            try:
                self._sessions[name] = self.ort.InferenceSession(
                    str(path), self.session_options(), providers=self.providers
                )
            except Exception as error:  # onnxruntime's own classes, not importable
                if isinstance(error, TPSMMError):
                    raise
                raise TPSMMError(
                    f"{path}: onnxruntime cannot load this graph ({first_line(error)}); "
                    "the export is damaged, export again"
                ) from None
        return self._sessions[name]

    def run(self, name: str, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run graph ``name`` on ``feeds`` (input name -> array); its outputs in order.

        Raises:
            TPSMMError: onnxruntime failed on the graph (one line naming its file).
        """
        session = self.session(name)
        try:
            return session.run(None, feeds)
        except Exception as error:
            if isinstance(error, TPSMMError):
                raise
            graph = self.folder / self.manifest.graphs[name].file
            raise TPSMMError(f"{graph}: onnxruntime failed ({first_line(error)})") from None

    def animator(
        self,
        source: np.ndarray,
        mode: str = "relative",
        *,
        background: bool = False,
        motion_scale: float = 1.0,
        resolution: int | str | None = None,
    ) -> OnnxAnimator:
        if motion_scale != 1.0:
            raise keypoints_need_torch("--motion-scale")
        return OnnxAnimator(self, source, mode, background=background, resolution=resolution)

    def __repr__(self) -> str:
        return f"OnnxModel({str(self.folder)!r}, providers={self.providers})"


def load_onnx(folder: str | os.PathLike, **options: Any) -> OnnxModel:
    """An :class:`OnnxModel` of an export folder (``options`` as for the class)."""
    return OnnxModel(folder, **options)


def _nchw(frames: np.ndarray) -> np.ndarray:
    """(B, H, W, 3) (or one (H, W, 3)) uint8 or float frames -> (B, 3, H, W) float32 in
    [0, 1], the values of :func:`tpsmm.animation.frames_to_tensor`.

    In NumPy, not torch: a torch operation between two onnxruntime runs wakes torch's
    own thread pool, which then competes with onnxruntime's for the cores (measured: 15
    ms more per 128x128 frame on 2 cores, a third of the frame's time).
    """
    array = np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    check_frames_shape(array.shape)
    nchw = np.ascontiguousarray(array.transpose(0, 3, 1, 2), dtype=np.float32)
    return nchw / np.float32(255) if array.dtype == np.uint8 else nchw


class OnnxAnimator(FrameAnimator):
    """Animates one source image by driving frames with onnxruntime (see
    :class:`tpsmm.Animator` for the arguments and behaviour, which are the same; driving
    keypoints in place of frames are the torch backend's alone).

    The first frame animated since :meth:`reset` is relative mode's reference unless
    :meth:`set_reference` chose one (``reference.onnx`` gives its keypoints and the
    movement scale); standard and avd modes have no reference. With a ``resolution``
    above the model's size (see :class:`tpsmm.Animator`), ``render.onnx`` renders the
    frames graph's outputs at that size.
    """

    def __init__(
        self,
        model: OnnxModel,
        source: np.ndarray,
        mode: str = "relative",
        *,
        background: bool = False,
        resolution: int | str | None = None,
    ):
        self.mode = check_mode(mode)
        self.model = model
        self.graph = model.manifest.frames_graph(self.mode, background)
        source, target = animator_source(source, resolution, model.frame_size)
        self.render_feeds: dict[str, np.ndarray] | None = None
        if target is not None:
            model.manifest.render_graph()
            self.render_feeds = {
                "render_source": target.source,
                "source_box": target.source_box,
                "points": target.points,
            }
        image = _nchw(source)
        outputs = model.run("source", {"source": image})
        names = model.manifest.graphs["source"].output_names
        self.state = {"source": image, **dict(zip(names, outputs, strict=True))}
        self.reset()

    @property
    def frame_size(self) -> int:
        """The side of the frames this animator gives: the resolution, or the model's."""
        if self.render_feeds is None:
            return self.model.frame_size
        return self.render_feeds["points"].shape[1]

    def reset(self) -> None:
        self.reference: dict[str, np.ndarray] | None = None

    def set_reference(self, frame: np.ndarray) -> None:
        frame = check_frames(frame, "reference frame", size=self.model.frame_size, single=True)
        if self.mode == "relative":  # the other modes use no reference (motion scale 1)
            self.reference = self._reference(np.asarray(frame).reshape(1, *frame.shape[-3:]))

    def animate(self, frames: np.ndarray, keypoints: Any = None) -> np.ndarray:
        if keypoints is not None:
            raise keypoints_need_torch("animating from known keypoints")
        frames = np.asarray(check_batch(frames, "driving", self.model.frame_size))
        if frames.ndim == 3:
            frames = frames[None]
        if self.mode == "relative" and self.reference is None:
            self.reference = self._reference(frames[:1])
        feeds = {"driving": _nchw(frames), **self.state, **(self.reference or {})}
        wanted = {name: feeds[name] for name in self.graph.input_names}
        session = self.model.session(self.graph.name)
        if self.render_feeds is None:
            (out,) = session.run(["frames"], wanted)
        else:
            made = session.run(list(FRAMES_OUTPUTS), wanted)
            inputs = {**self.render_feeds, "source": self.state["source"]}
            inputs |= dict(zip(FRAMES_OUTPUTS, made, strict=True))
            (out,) = self.model.run("render", inputs)
        return np.ascontiguousarray(out.transpose(0, 2, 3, 1))

    def _reference(self, frame: np.ndarray) -> dict[str, np.ndarray]:
        """Relative mode's reference of a (1, H, W, 3) frame: its keypoints and the
        movement scale."""
        kp_reference, scale = self.model.run(
            "reference", {"reference": _nchw(frame), "kp_source": self.state["kp_source"]}
        )
        return {"kp_reference": kp_reference, "movement_scale": scale}
