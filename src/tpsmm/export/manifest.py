"""``manifest.json``: what an ONNX export folder holds, for people and programs.

It records the format version, the tpsmm / torch / onnx versions and the opset, the
checkpoint's file name and SHA-256, the whole config, the frame size and keypoint
count, the weights file's size and SHA-256, and for every graph its file and that
file's SHA-256, mode, whether it uses the background predictor, and the names, shapes
(``"batch"`` for the dynamic dimension) and element types of its inputs and outputs, in
order. Reading an export checks its files against it (:meth:`Manifest.check_files`).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tpsmm.errors import TPSMMError

MANIFEST_NAME = "manifest.json"
WEIGHTS_NAME = "weights.bin"
FORMAT = "tpsmm-onnx"
#: 2: the frames graphs also give the deformation and the occlusion mask, and
#: ``render.onnx`` renders above the model's size (``--resolution``); version 1 folders
#: still animate at the model's size.
FORMAT_VERSION = 2
#: The outputs of a frames graph, in order (format version 1 had only ``frames``).
FRAMES_OUTPUTS = ("frames", "deformation", "occlusion")


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: its name, shape (ints; for a dynamic dimension its label:
    ``"batch"``, ``"height"``, ...) and element type (``float32``)."""

    name: str
    shape: list[int | str]
    dtype: str


@dataclass(frozen=True)
class GraphInfo:
    """One graph: ``file`` in the folder, its inputs and outputs in order; ``mode`` and
    ``background`` for a frames graph (None and False for the source and reference
    graphs); the file's SHA-256."""

    name: str
    file: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    mode: str | None = None
    background: bool = False
    #: SHA-256 of ``file`` as written (None in exports made before it was recorded).
    sha256: str | None = None

    @classmethod
    def from_tensors(
        cls,
        name: str,
        inputs: dict[str, Any],
        outputs: dict[str, Any],
        dynamic: dict[str, dict[int, str]],
    ) -> GraphInfo:
        """The info of graph ``name`` from example inputs and outputs (name -> tensor,
        in order) and their dynamic dimensions (name -> {dimension: label})."""

        def tensors(values: dict[str, Any]) -> list[TensorInfo]:
            out = []
            for tensor_name, tensor in values.items():
                shape: list[int | str] = list(tensor.shape)
                for dimension, label in dynamic.get(tensor_name, {}).items():
                    shape[dimension] = label
                out.append(TensorInfo(tensor_name, shape, str(tensor.dtype).split(".")[-1]))
            return out

        mode, background = None, False
        if name.startswith("frames_"):
            parts = name.split("_")
            mode, background = parts[1], parts[-1] == "background"
        return cls(name, f"{name}.onnx", tensors(inputs), tensors(outputs), mode, background)

    @property
    def input_names(self) -> list[str]:
        return [tensor.name for tensor in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [tensor.name for tensor in self.outputs]


@dataclass(frozen=True)
class Manifest:
    """The contents of ``manifest.json`` (see the module docstring)."""

    graphs: dict[str, GraphInfo]
    config: dict[str, Any]
    frame_size: int
    num_keypoints: int
    opset: int
    tpsmm_version: str
    checkpoint: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    weights: dict[str, Any] = field(default_factory=dict)
    created: str = ""
    export_seconds: float = 0.0
    format: str = FORMAT
    format_version: int = FORMAT_VERSION

    @property
    def modes(self) -> list[str]:
        """The modes that have a frames graph."""
        return sorted({g.mode for g in self.graphs.values() if g.mode is not None})

    @property
    def has_background(self) -> bool:
        return any(g.background for g in self.graphs.values())

    def frames_graph(self, mode: str, background: bool = False) -> GraphInfo:
        """The frames graph of ``mode`` (with or without the background predictor).

        Raises:
            TPSMMError: the export has no such graph.
        """
        for graph in self.graphs.values():
            if graph.mode == mode and graph.background == background:
                return graph
        if mode not in self.modes:
            raise TPSMMError(
                f"this ONNX export has no {mode} mode (it has {', '.join(self.modes)}); "
                f"export again with --modes {mode}"
            )
        raise TPSMMError(
            "this ONNX export has no graphs with the background predictor "
            "(the model has none, or it was exported with --no-background)"
        )

    def render_graph(self) -> GraphInfo:
        """The render graph (frames above the model's size).

        Raises:
            TPSMMError: an export written before ``--resolution`` (format version 1).
        """
        graph = self.graphs.get("render")
        frames = next((g for g in self.graphs.values() if g.mode is not None), None)
        if graph is None or frames is None or frames.output_names != list(FRAMES_OUTPUTS):
            raise TPSMMError(
                "this ONNX export was written before --resolution (format version "
                f"{self.format_version}: no render graph); export the model again"
            )
        return graph

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def write(self, path: str | os.PathLike) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def read(cls, folder: str | os.PathLike) -> Manifest:
        """The manifest of an export folder.

        Raises:
            TPSMMError: no manifest, not a tpsmm export, a newer format, or a graph file
                it names is missing.
        """
        folder = Path(folder)
        path = folder / MANIFEST_NAME
        if not path.is_file():
            raise TPSMMError(
                f"{folder}: no {MANIFEST_NAME}; make an ONNX export with "
                "`tpsmm export --checkpoint C --out DIR`"
            )
        try:
            data = json.loads(path.read_text())
            if data.get("format") != FORMAT:
                raise TPSMMError(f"{path}: not a tpsmm ONNX manifest")
            if data.get("format_version", 0) > FORMAT_VERSION:
                raise TPSMMError(
                    f"{path}: format version {data['format_version']} is newer than this "
                    f"tpsmm reads ({FORMAT_VERSION}); update tpsmm"
                )
            graphs = {
                name: _known(
                    GraphInfo,
                    {
                        **info,
                        "inputs": [_known(TensorInfo, t) for t in info["inputs"]],
                        "outputs": [_known(TensorInfo, t) for t in info["outputs"]],
                    },
                )
                for name, info in data["graphs"].items()
            }
            manifest = _known(cls, {**data, "graphs": graphs})
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise TPSMMError(f"{path}: unreadable manifest ({error})") from None
        manifest.check_files(folder)
        return manifest

    def check_files(self, folder: str | os.PathLike) -> None:
        """Check that ``folder`` holds the files this manifest describes: every graph
        and the weights, of the recorded size and SHA-256 (where recorded: exports made
        before the digests only by size), so that a damaged file, or a file of another
        export, is refused before any frame is made.

        Raises:
            TPSMMError: naming the folder and the file that does not match.
        """
        folder = Path(folder)
        mixed = "the export is damaged or mixes files of different exports; export again"
        for graph in self.graphs.values():
            if not (folder / graph.file).is_file():
                raise TPSMMError(f"{folder}: {graph.file} is missing")
            if graph.sha256 is not None and file_sha256(folder / graph.file) != graph.sha256:
                raise TPSMMError(f"{folder}: {graph.file} does not match {MANIFEST_NAME} ({mixed})")
        name = self.weights.get("file", WEIGHTS_NAME)
        weights = folder / name
        if not weights.is_file():
            raise TPSMMError(f"{folder}: {name} is missing ({mixed})")
        size, recorded = weights.stat().st_size, self.weights.get("bytes")
        if recorded is not None and size != recorded:
            raise TPSMMError(
                f"{folder}: {name} is {size:,} bytes but {MANIFEST_NAME} records "
                f"{recorded:,} ({mixed})"
            )
        digest = self.weights.get("sha256")
        if digest is not None and file_sha256(weights) != digest:
            raise TPSMMError(f"{folder}: {name} does not match {MANIFEST_NAME} ({mixed})")


def _known(cls: type, values: dict[str, Any]) -> Any:
    """``cls(**values)`` without the keys ``cls`` does not have (written by a later
    tpsmm; the format version says when one must not be ignored)."""
    if not isinstance(values, dict):
        raise TypeError(f"expected an object, got {type(values).__name__}")
    names = {item.name for item in dataclasses.fields(cls)}
    return cls(**{key: value for key, value in values.items() if key in names})


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build(
    model: Any,
    graphs: dict[str, GraphInfo],
    *,
    checkpoint: str | os.PathLike | None,
    opset: int,
    weights_bytes: int,
    weights_sha256: str | None = None,
    export_seconds: float,
) -> Manifest:
    """The manifest of an export of ``model`` (a :class:`tpsmm.TPSMM`)."""
    import onnx
    import torch

    import tpsmm

    record: dict[str, Any] = {}
    if checkpoint is not None and Path(checkpoint).is_file():
        record = {"file": Path(checkpoint).name, "sha256": file_sha256(checkpoint)}
    return Manifest(
        graphs=graphs,
        config=model.config.to_dict(),
        frame_size=model.frame_size,
        num_keypoints=model.num_tps * 5,
        opset=opset,
        tpsmm_version=tpsmm.__version__,
        checkpoint=record,
        versions={"torch": torch.__version__, "onnx": onnx.__version__},
        weights={"file": WEIGHTS_NAME, "bytes": weights_bytes, "sha256": weights_sha256},
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        export_seconds=round(export_seconds, 1),
    )
