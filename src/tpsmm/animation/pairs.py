"""Many source/driving pairs from a CSV file, sharded across processes.

The CSV has the columns ``source, driving[, output][, mode]``, with or without a header
row naming them (a first row with a cell ``source`` or ``driving`` is the header; it may
list the columns in any order). Blank rows and rows whose first
cell starts with ``#`` are skipped. Relative source and driving paths are resolved
against the CSV's folder, relative outputs against the output folder; an empty output
becomes ``<source stem>_<driving stem>.mp4`` (with ``_<line>`` added when two rows would
share a name), an empty mode the job's default.

Launched with ``torchrun`` (or anything that sets ``RANK`` and ``WORLD_SIZE``), process
``r`` of ``W`` takes rows ``r, r + W, r + 2W, ...``; no process group is needed.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpsmm.animation.backend import AnimationBackend
from tpsmm.animation.best_frame import default_landmarks
from tpsmm.animation.pipeline import AnimationSummary, animate_video
from tpsmm.errors import TPSMMError
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


def shard_from_env(environ: Mapping[str, str] | None = None) -> tuple[int, int]:
    """(rank, world size) from ``RANK`` and ``WORLD_SIZE`` (as torchrun sets them);
    (0, 1) when they are not set.

    Raises:
        TPSMMError: values that are not whole numbers with 0 <= rank < world size.
    """
    environ = os.environ if environ is None else environ
    rank_text, world_text = environ.get("RANK", "0"), environ.get("WORLD_SIZE", "1")
    try:
        rank, world = int(rank_text), int(world_text)
    except ValueError:
        rank, world = -1, 0
    if world < 1 or not 0 <= rank < world:
        raise TPSMMError(
            f"RANK={rank_text!r} and WORLD_SIZE={world_text!r} must be whole numbers "
            "with 0 <= RANK < WORLD_SIZE"
        )
    return rank, world


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
    """Animate each pair with :func:`tpsmm.animation.pipeline.animate_video`; a failing
    pair is recorded and the others go on.

    Args:
        model: the loaded model (or onnxruntime backend), shared by every pair.
        pairs: the pairs to run (already sharded).
        mode: the default mode for rows without one.
        find_best_frame, landmarks: as for :func:`animate_video`; the landmark detector
            is loaded once for all pairs.
        on_result: called after each pair (to report progress).
        options: further keyword arguments of :func:`animate_video` (fit, batch_size,
            side_by_side, max_frames, progress, background).

    Returns:
        One :class:`PairResult` per pair, in order.
    """
    if find_best_frame and landmarks is None:
        landmarks = default_landmarks()
    results = []
    for pair in pairs:
        result = _run_pair(model, pair, mode, find_best_frame, landmarks, options)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


def _run_pair(
    model: TPSMM | AnimationBackend,
    pair: Pair,
    mode: str,
    find_best_frame: bool,
    landmarks: LandmarkFunction | None,
    options: Mapping[str, Any],
) -> PairResult:
    try:
        pair.output.parent.mkdir(parents=True, exist_ok=True)
        summary = animate_video(
            model,
            pair.source,
            pair.driving,
            pair.output,
            mode=pair.mode or mode,
            find_best_frame=find_best_frame,
            landmarks=landmarks,
            **options,
        )
    except TPSMMError as error:
        return PairResult(pair, error=_one_line(str(error)))
    except Exception as error:  # one bad pair (a GPU out of memory, ...) must not stop the rest
        return PairResult(pair, error=_one_line(f"{type(error).__name__}: {error}"))
    return PairResult(pair, summary=summary)


def _one_line(text: str) -> str:
    return " ".join(text.split())
