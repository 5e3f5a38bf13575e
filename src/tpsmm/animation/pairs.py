"""Many source/driving pairs from a CSV file, sharded across processes.

The CSV has the columns ``source, driving[, output][, mode]``, with or without a header
row naming them (a first row with a cell ``source`` or ``driving`` is the header; it may
list the columns in any order). Blank rows and rows whose first
cell starts with ``#`` are skipped. Relative source and driving paths are resolved
against the CSV's folder, relative outputs against the output folder; an empty output
becomes ``<source stem>_<driving stem>.mp4`` (with ``_<line>`` added when two rows would
share a name), an empty mode the job's default.

Launched with ``torchrun`` (or anything that sets ``RANK`` and ``WORLD_SIZE``, read by
:func:`tpsmm.runtime.torchrun_env`), process ``r`` of ``W`` takes rows ``r, r + W,
r + 2W, ...``; no process group is needed.
"""

from __future__ import annotations

import csv
import hashlib
import inspect
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tpsmm import signals
from tpsmm.animation.backend import AnimationBackend
from tpsmm.animation.best_frame import default_landmarks
from tpsmm.animation.driving import DrivingCache
from tpsmm.animation.output import AnimationSummary
from tpsmm.animation.pipeline import VideoAnimator
from tpsmm.errors import TPSMMError, describe_os_error
from tpsmm.faces import LandmarkFunction
from tpsmm.model import TPSMM

COLUMNS: tuple[str, ...] = ("source", "driving", "output", "mode")
DEFAULT_SUFFIX = ".mp4"


@dataclass(frozen=True)
class Pair:
    """One row of a pairs file.

    Attributes:
        index: position among the pairs (0-based), the key for sharding.
        line: the row's line number in the CSV, for messages.
        source, driving, output: resolved paths.
        mode: the row's mode, or None for the job's default.
    """

    index: int
    line: int
    source: Path
    driving: Path
    output: Path
    mode: str | None

    def describe(self) -> str:
        """``line N (source -> driving)`` for messages."""
        return f"line {self.line} ({self.source.name} -> {self.driving.name})"


@dataclass(frozen=True)
class PairResult:
    """The outcome of one pair: a summary, or the one-line error that stopped it."""

    pair: Pair
    summary: AnimationSummary | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def read_pairs(csv_path: str | os.PathLike, out_dir: str | os.PathLike) -> list[Pair]:
    """Parse a pairs file (see the module docstring).

    Raises:
        TPSMMError: a missing or unreadable file, an unknown column, a row with too few or
            too many cells, or two rows writing the same output.
    """
    csv_path, out_dir = Path(csv_path), Path(out_dir)
    rows = _read_rows(csv_path)
    columns = list(COLUMNS)
    if rows and {"source", "driving"} & {cell.lower() for cell in rows[0][1]}:
        columns = _header_columns(csv_path, rows.pop(0))
    pairs: list[Pair] = []
    taken: dict[Path, int] = {}
    for line, cells in rows:
        values = _row_values(csv_path, line, cells, columns)
        source = _resolve(csv_path.parent, values["source"])
        driving = _resolve(csv_path.parent, values["driving"])
        output = _output_path(out_dir, values.get("output", ""), source, driving, line, taken)
        if output in taken:
            raise TPSMMError(
                f"{csv_path}:{line}: output {output} is already written by line {taken[output]}"
            )
        taken[output] = line
        mode = values.get("mode", "").strip() or None
        pairs.append(Pair(len(pairs), line, source, driving, output, mode))
    if not pairs:
        raise TPSMMError(f"{csv_path}: no pairs (expected rows of source,driving[,output][,mode])")
    return pairs


def _read_rows(csv_path: Path) -> list[tuple[int, list[str]]]:
    """(line number, cells) of the rows that are neither blank nor comments."""
    if not csv_path.is_file():
        raise TPSMMError(f"{csv_path}: no such pairs file")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            rows = [(reader.line_num, row) for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise TPSMMError(f"{csv_path}: cannot read the pairs file ({error})") from None
    return [
        (line, [cell.strip() for cell in row])
        for line, row in rows
        if any(cell.strip() for cell in row) and not row[0].strip().startswith("#")
    ]


def _header_columns(csv_path: Path, header: tuple[int, list[str]]) -> list[str]:
    names = [cell.lower() for cell in header[1]]
    unknown = [name for name in names if name not in COLUMNS]
    required = {"source", "driving"}
    if unknown or len(set(names)) != len(names) or not required <= set(names):
        raise TPSMMError(
            f"{csv_path}:{header[0]}: header must name source and driving, optionally "
            f"output and mode, each once; got {','.join(header[1])}"
        )
    return names


def _row_values(
    csv_path: Path, line: int, cells: list[str], columns: Sequence[str]
) -> dict[str, str]:
    while len(cells) > 2 and not cells[-1]:
        cells = cells[:-1]
    if len(cells) > len(columns) or len(cells) < 2:
        raise TPSMMError(
            f"{csv_path}:{line}: expected {', '.join(columns)} ({len(columns)} cells at most, "
            f"source and driving required), got {len(cells)} cells"
        )
    values = dict(zip(columns, cells, strict=False))
    for name in ("source", "driving"):
        if not values.get(name):
            raise TPSMMError(f"{csv_path}:{line}: the {name} cell is empty")
    return values


def _resolve(folder: Path, text: str) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else folder / path


def _output_path(
    out_dir: Path, text: str, source: Path, driving: Path, line: int, taken: Mapping[Path, int]
) -> Path:
    if text:
        return _resolve(out_dir, text)
    output = out_dir / f"{source.stem}_{driving.stem}{DEFAULT_SUFFIX}"
    if output in taken:
        output = out_dir / f"{source.stem}_{driving.stem}_{line}{DEFAULT_SUFFIX}"
    return output


def shard(pairs: Sequence[Pair], rank: int, world_size: int) -> list[Pair]:
    """The pairs of process ``rank`` of ``world_size``: every ``world_size``-th pair from
    the ``rank``-th."""
    return [pair for pair in pairs if pair.index % world_size == rank]


def animate_pairs(
    model: TPSMM | AnimationBackend,
    pairs: Sequence[Pair],
    *,
    mode: str = "relative",
    find_best_frame: bool = False,
    landmarks: LandmarkFunction | None = None,
    on_result: Callable[[PairResult], None] | None = None,
    **options: Any,
) -> list[PairResult]:
    """Animate each pair as :func:`tpsmm.animation.pipeline.animate_video` would; a pair
    whose files are bad (what a user can cause: :class:`TPSMMError`, ``OSError``) is
    recorded and the others go on; anything else is a bug and propagates.

    Work is shared between pairs: rows with the same source (and mode) reuse its prepared
    state (fitted or face-cropped image, keypoints, encoder features; :data:`MAX_SOURCES`
    sources kept); rows with the same driving video reuse its frames' keypoints, its face
    crops (``crop_face``) and, with ``find_best_frame``, its faces' landmarks
    (:data:`MAX_DRIVING` videos kept). The frames are those of each pair run alone.

    Args:
        model: the loaded model (or onnxruntime backend), shared by every pair.
        pairs: the pairs to run (already sharded), in this order.
        mode: the default mode for rows without one.
        find_best_frame, landmarks: as for :func:`animate_video`; the landmark detector
            is loaded once for all pairs.
        on_result: called after each pair (to report progress).
        options: further keyword arguments of :func:`animate_video`: those of
            :class:`VideoAnimator` (fit, batch_size, crop_face, background, ...) and of
            :meth:`VideoAnimator.write` (side_by_side, max_frames, progress, ...).

    Returns:
        One :class:`PairResult` per pair, in order.
    """
    if find_best_frame and landmarks is None:
        landmarks = default_landmarks()
    animator_options = {k: v for k, v in options.items() if k in ANIMATOR_OPTIONS}
    write_options = {k: v for k, v in options.items() if k not in ANIMATOR_OPTIONS}
    runner = _PairRunner(
        model,
        mode=mode,
        animator_options=animator_options,
        landmarks=MemoLandmarks(landmarks) if find_best_frame and landmarks else None,
    )
    results = []
    for pair in pairs:
        result = runner.run(pair, find_best_frame=find_best_frame, options=write_options)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


#: The options of :func:`animate_video` that belong to the :class:`VideoAnimator` (the
#: per-source part), read off its constructor.
ANIMATOR_OPTIONS = frozenset(inspect.signature(VideoAnimator.__init__).parameters) - {
    "self",
    "model",
    "source",
    "mode",
    "driving_cache",
}


#: Prepared sources kept for later rows (each holds its encoder features: about 30 MB
#: for a 256x256 model).
MAX_SOURCES = 8
#: Driving videos whose frame keypoints and face crops are kept for later rows.
MAX_DRIVING = 8


class MemoLandmarks:
    """A landmark function that remembers its answers by frame content, so a driving
    frame (or a source) seen for one pair costs nothing for the next.

    At most ``max_frames`` answers are kept (the oldest go first): a (68, 2) array each.
    """

    def __init__(self, landmarks: LandmarkFunction, max_frames: int = 20_000):
        self.landmarks = landmarks
        self.max_frames = max_frames
        self._answers: OrderedDict[bytes, np.ndarray | None] = OrderedDict()

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        key = _digest(image)
        if key in self._answers:
            self._answers.move_to_end(key)
            return self._answers[key]
        answer = self.landmarks(image)
        self._answers[key] = answer
        if len(self._answers) > self.max_frames:
            self._answers.popitem(last=False)
        return answer


def _digest(image: np.ndarray) -> bytes:
    array = np.ascontiguousarray(image)
    header = f"{array.shape}{array.dtype}".encode()
    return hashlib.blake2b(header + array.tobytes(), digest_size=16).digest()


class _PairRunner:
    """Runs pairs one by one, keeping the work that later pairs can reuse."""

    def __init__(
        self,
        model: TPSMM | AnimationBackend,
        *,
        mode: str,
        animator_options: Mapping[str, Any],
        landmarks: LandmarkFunction | None,
    ):
        self.model = model
        self.mode = mode
        self.animator_options = dict(animator_options)
        self.landmarks = landmarks
        self.driving_cache = DrivingCache(max_videos=MAX_DRIVING)
        self._animators: OrderedDict[tuple[Path, str], VideoAnimator] = OrderedDict()

    def animator(self, source: Path, mode: str) -> VideoAnimator:
        """The prepared source (built on first use; the least recently used is dropped)."""
        key = (source.resolve(), mode)
        if key in self._animators:
            self._animators.move_to_end(key)
            return self._animators[key]
        animator = VideoAnimator(
            self.model,
            source,
            mode=mode,
            driving_cache=self.driving_cache,
            **self.animator_options,
        )
        self._animators[key] = animator
        if len(self._animators) > MAX_SOURCES:
            self._animators.popitem(last=False)
        return animator

    def run(self, pair: Pair, *, find_best_frame: bool, options: Mapping[str, Any]) -> PairResult:
        try:
            animator = self.animator(pair.source, pair.mode or self.mode)
            pair.output.parent.mkdir(parents=True, exist_ok=True)
            summary = animator.write(
                pair.driving,
                pair.output,
                find_best_frame=find_best_frame,
                landmarks=self.landmarks,
                **options,
            )
        except (TPSMMError, OSError) as error:  # what a bad pair raises; bugs propagate
            signals.raise_received()  # a stop signal that C code turned into this error
            return PairResult(pair, error=_describe(error))
        return PairResult(pair, summary=summary)


def _describe(error: TPSMMError | OSError) -> str:
    """One line: a TPSMMError's message, an OSError's reason and file."""
    text = describe_os_error(error) if isinstance(error, OSError) else str(error)
    return " ".join(text.split())
