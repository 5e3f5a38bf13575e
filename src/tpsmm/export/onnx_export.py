"""Export a :class:`tpsmm.TPSMM` to self-describing ONNX graphs (``tpsmm export``).

The folder holds the graphs of :mod:`tpsmm.export.graphs` (``source.onnx``,
``reference.onnx``, ``frames_<mode>[_background].onnx``, ``render.onnx``), one file of
weights that they share (``weights.bin``: every distinct tensor once, as ONNX external
data, so that six frames graphs cost the weights of one), and ``manifest.json`` (see
:mod:`tpsmm.export.manifest`). Every graph has a dynamic batch dimension, opset 17 or
later, and passes ``onnx.checker`` with full checking. The 8x8 TPS systems are solved by
:func:`tpsmm.geometry.solve_unrolled` and relative mode's convex hulls by
:func:`tpsmm.geometry.convex_hull_area_batched`: no solve, no loop, no scatter operator.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

from tpsmm import highres
from tpsmm.animation.keypoints import MODES, check_mode
from tpsmm.errors import TPSMMError
from tpsmm.export import manifest as manifest_module
from tpsmm.export.graphs import (
    FramesGraph,
    ReferenceGraph,
    RenderGraph,
    SourceGraph,
    frames_graph_name,
)
from tpsmm.export.manifest import (
    MANIFEST_NAME,
    WEIGHTS_NAME,
    GraphInfo,
    Manifest,
    file_sha256,
)
from tpsmm.export.requirements import require_onnx
from tpsmm.files import partial_path, write_error
from tpsmm.model import TPSMM

#: The lowest opset written (GridSample needs 16).
MIN_OPSET = 17
DEFAULT_OPSET = 18
#: Tensors smaller than this stay inside their graph file.
INLINE_BYTES = 1024
#: Offsets of tensors in the weights file are multiples of this (memory mapping).
ALIGNMENT = 4096
#: The batch of the example inputs traced (2: a traced batch of 1 could be taken for a
#: constant).
TRACE_BATCH = 2


def export_onnx(
    model: TPSMM,
    out_dir: str | os.PathLike,
    *,
    checkpoint: str | os.PathLike | None = None,
    modes: Sequence[str] | None = None,
    background: bool | None = None,
    opset: int = DEFAULT_OPSET,
    check: bool = True,
    progress: Callable[[str], None] | None = None,
) -> Manifest:
    """Write the ONNX graphs of ``model`` and their manifest into ``out_dir``.

    Args:
        model: a float32 model, on any device (it is exported on the CPU and moved
            back afterwards).
        out_dir: a new or empty folder; it appears complete or not at all (written
            beside it, then renamed).
        checkpoint: the file the weights came from, for the manifest's SHA-256.
        modes: the frames graphs to write; default every mode the model supports
            (``avd`` only with a trained AVD network).
        background: also write the frames graphs that use the background predictor;
            default: when the model has one.
        opset: ONNX opset (>= 17).
        check: run ``onnx.checker`` with full checking on every graph.
        progress: called with one line per graph written.

    Returns:
        The :class:`Manifest` written to ``out_dir/manifest.json``.

    Raises:
        TPSMMError: missing ``onnx`` extra, a bad mode or opset, a folder that is not
            empty, a model that is not float32.
    """
    onnx = require_onnx("export")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise TPSMMError(f"{out_dir}: is a file; give a new or empty folder for the export")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise TPSMMError(f"{out_dir}: the output folder exists and is not empty")
    if opset < MIN_OPSET:
        raise TPSMMError(f"opset {opset} is too old: the graphs need opset {MIN_OPSET} or later")
    if model.compute_dtype != torch.float32:
        raise TPSMMError("export a float32 model (load it without --dtype)")
    modes = list(modes) if modes is not None else default_modes(model)
    for mode in modes:
        check_mode(mode)
    if "avd" in modes:
        model.require_avd()
    if background is None:
        background = model.bg_predictor is not None
    elif background and model.bg_predictor is None:
        raise TPSMMError("the model has no background predictor (its config has bg: false)")
    report = progress or (lambda line: None)

    started = time.perf_counter()
    device = next(model.parameters()).device
    was_training = model.training
    model.cpu().eval()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = partial_path(out_dir, folder=True)  # made with the umask's mode, renamed at the end
    staging.mkdir()
    try:
        graphs = _graphs(model, modes, background)
        infos: dict[str, GraphInfo] = {}
        with torch.no_grad():
            examples = _examples(model)
            for name, (module, args) in graphs.items():
                graph_started = time.perf_counter()
                infos[name] = _export_graph(module, args(examples), staging, name, opset)
                report(f"{name}.onnx in {time.perf_counter() - graph_started:.1f} s")
        weights = _share_weights(onnx, staging, list(infos))
        if check:
            for name in infos:
                onnx.checker.check_model(str(staging / f"{name}.onnx"), full_check=True)
        infos = {
            name: dataclasses.replace(info, sha256=file_sha256(staging / info.file))
            for name, info in infos.items()
        }
        result = manifest_module.build(
            model,
            infos,
            checkpoint=checkpoint,
            opset=opset,
            weights_bytes=weights,
            weights_sha256=file_sha256(staging / WEIGHTS_NAME),
            export_seconds=time.perf_counter() - started,
        )
        result.write(staging / MANIFEST_NAME)
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except OSError as error:  # a full disk: name the export, not a file inside it
        raise write_error(out_dir, error) from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
        model.to(device).train(was_training)
    return result


def default_modes(model: TPSMM) -> list[str]:
    """Every mode the model can animate in: ``avd`` needs a trained AVD network."""
    return [mode for mode in MODES if mode != "avd" or model.avd_available]


def _graphs(
    model: TPSMM, modes: Sequence[str], background: bool
) -> dict[str, tuple[torch.nn.Module, Callable[[dict[str, Any]], tuple]]]:
    """name -> (module, function of the example inputs giving its arguments)."""
    graphs: dict[str, tuple[torch.nn.Module, Callable[[dict[str, Any]], tuple]]] = {
        "source": (SourceGraph(model), lambda e: (e["source"],)),
    }
    if "relative" in modes:
        graphs["reference"] = (ReferenceGraph(model), lambda e: (e["reference"], e["kp_source"]))
    for mode in modes:
        for with_background in (False, True) if background else (False,):
            module = FramesGraph(model, mode, with_background)
            graphs[frames_graph_name(mode, with_background)] = (
                module,
                lambda e, m=module: (e["driving"], *e["state"], *e["relative"][: _extra(m)]),
            )
    graphs["render"] = (RenderGraph(model), lambda e: e["render"])
    return graphs


def _extra(module: FramesGraph) -> int:
    return 2 if module.mode == "relative" else 0


def _examples(model: TPSMM) -> dict[str, Any]:
    """Example inputs at the model's size (random images, seeded); the render graph's at
    other sizes, none of them square or equal to another (so that none is taken for a
    constant)."""
    size = model.frame_size
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, size, size, generator=generator)
    driving = torch.rand(TRACE_BATCH, 3, size, size, generator=generator)
    state = SourceGraph(model)(source)
    reference, scale = ReferenceGraph(model)(driving[:1], state[0])
    made = FramesGraph(model, "standard")(driving, source, *state)
    render_source = torch.rand(1, 3, 2 * size + 3, 2 * size + 1, generator=generator)
    box = torch.tensor([-1.0, -1.0, 1.0, 1.0])
    points = highres.frame_grid(2 * size + 5, 2 * size + 7)
    return {
        "source": source,
        "reference": driving[:1],
        "kp_source": state[0],
        "driving": driving,
        "state": (source, *state),
        "relative": (reference, scale),
        "render": (render_source, box, points, source, *made),
    }


def _export_graph(
    module: torch.nn.Module, args: tuple, folder: Path, name: str, opset: int
) -> GraphInfo:
    """Trace ``module`` on ``args`` into ``folder/name.onnx`` (weights inline for now)."""
    spec = module.spec()
    path = folder / f"{name}.onnx"
    with warnings.catch_warnings():
        # The TorchScript exporter warns that it is deprecated and about shape checks
        # that are constant by design (spatial sizes); the graphs are checked instead.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            input_names=list(spec.inputs),
            output_names=list(spec.outputs),
            dynamic_axes=spec.dynamic,
            opset_version=opset,
            do_constant_folding=True,
        )
    outputs = module(*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    return GraphInfo.from_tensors(
        name,
        dict(zip(spec.inputs, args, strict=True)),
        dict(zip(spec.outputs, outputs, strict=True)),
        spec.dynamic,
    )


def _share_weights(onnx: Any, folder: Path, names: Sequence[str]) -> int:
    """Move the graphs' large tensors into one ``weights.bin``, each distinct tensor
    once; returns its size in bytes."""
    from onnx import external_data_helper, numpy_helper

    offsets: dict[str, tuple[int, int]] = {}
    with (folder / WEIGHTS_NAME).open("wb") as weights:
        for name in names:
            path = folder / f"{name}.onnx"
            graph = onnx.load(str(path))
            for tensor in graph.graph.initializer:
                data = numpy_helper.to_array(tensor).tobytes()
                if len(data) < INLINE_BYTES:
                    continue
                key = hashlib.sha256(data).hexdigest()
                if key not in offsets:
                    position = weights.tell()
                    padding = -position % ALIGNMENT
                    weights.write(b"\0" * padding)
                    offsets[key] = (position + padding, len(data))
                    weights.write(data)
                offset, length = offsets[key]
                for field in ("float_data", "int32_data", "int64_data", "double_data"):
                    tensor.ClearField(field)
                tensor.raw_data = data
                external_data_helper.set_external_data(tensor, WEIGHTS_NAME, offset, length)
                tensor.ClearField("raw_data")
            onnx.save(graph, str(path))
        return weights.tell()
