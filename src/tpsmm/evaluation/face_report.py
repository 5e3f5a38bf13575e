"""``tpsmm benchmark-faces``: the whole run, its report and picture grid.

:func:`benchmark_faces` reads the inputs (:mod:`.face_inputs`), measures
(:mod:`.face_benchmark`), averages (:mod:`.face_summary`) and returns the report and
the grid (:mod:`.face_grid`); :func:`write_outputs` writes them atomically;
:func:`tpsmm.evaluation.face_table.format_table` prints the report.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from tpsmm.animation.animator import Animator
from tpsmm.errors import TPSMMError
from tpsmm.evaluation.compare import Evaluator
from tpsmm.evaluation.face_benchmark import (
    DriverAnalysis,
    PairResult,
    ReconstructionResult,
    Settings,
    analyse,
    analyse_driver,
    animate_pair,
    ceiling_correlations,
    evenly_spaced,
    reconstruct_driver,
)
from tpsmm.evaluation.face_extractor import CropFaceKeypoints
from tpsmm.evaluation.face_grid import GridBlock, draw_grid
from tpsmm.evaluation.face_inputs import (
    SourceImage,
    list_videos,
    load_sources,
    read_driving,
    source_from_frame,
)
from tpsmm.evaluation.face_signals import SIGNALS
from tpsmm.evaluation.face_summary import (
    measurable_signals,
    summarize_ceiling,
    summarize_pairs,
    summarize_reconstruction,
)
from tpsmm.files import atomic_path
from tpsmm.model import TPSMM

__all__ = ["benchmark_faces", "grid_path", "write_outputs"]


def _grid_blocks(
    pairs: Sequence[PairResult],
    sources: dict[str, SourceImage],
    drivers: dict[str, DriverAnalysis],
    reconstructions: Sequence[ReconstructionResult],
    settings: Settings,
    wanted: int,
) -> list[GridBlock]:
    """Up to ``wanted`` pairs spread over the list, then half as many reconstructions."""

    def times(driver: DriverAnalysis) -> tuple[np.ndarray, str]:
        kept = evenly_spaced(len(driver.video.frames), settings.grid_times)
        return kept, "frames " + " ".join(str(n) for n in driver.video.indices[kept])

    blocks = []
    for index in evenly_spaced(len(pairs), wanted):
        pair = pairs[index]
        driver = drivers[pair.video]
        kept, numbers = times(driver)
        r = " ".join(
            f"{name} {'-' if found['r'] is None else format(found['r'], '.2f')}"
            for name, found in pair.correlations.items()
        )
        title = f"{pair.source} driven by {pair.video} ({numbers}): r {r}"
        blocks.append(
            GridBlock(title, sources[pair.source].frame, driver.video.frames[kept], pair.grid)
        )
    for result in reconstructions[: max(1, wanted // 2)]:
        driver = drivers[result.name]
        kept, numbers = times(driver)
        title = f"{result.name} reconstructed from its first frame, standard mode ({numbers})"
        blocks.append(
            GridBlock(title, driver.video.frames[0], driver.video.frames[kept], result.grid)
        )
    return blocks


def benchmark_faces(
    model: TPSMM,
    videos: str | os.PathLike,
    sources: str | os.PathLike | None = None,
    settings: Settings | None = None,
    *,
    max_frames: int | None = None,
    frame_step: int = 1,
    grid_pairs: int = 4,
    evaluator: Evaluator | None = None,
    progress: bool = False,
    note: Callable[[str], None] | None = None,
) -> tuple[dict[str, Any], Image.Image | None]:
    """Benchmark ``model`` on the face videos of ``videos`` and the portraits of
    ``sources`` (without them each video's first frame is a source for the others).

    Args:
        model: in eval mode, on its device and compute dtype.
        settings: analysis size, batch size, identity frames, minimum frames, ceiling.
        max_frames, frame_step: which frames of each video are kept (0, k, 2k, ..., at
            most ``max_frames``).
        grid_pairs: cross-identity pairs in the picture grid (and half as many
            reconstructions, at least one); 0: no grid.
        evaluator: the face metrics' :class:`Evaluator` (default: one with
            :class:`~.face_extractor.CropFaceKeypoints` at the analysis size).
        note: called with one line per input left out (a source without a face).

    Returns:
        ``(report, grid)``: the report (as written to JSON; ``checkpoint`` None, for the
        caller to fill) and the grid (None with ``grid_pairs`` 0).

    Raises:
        TPSMMError: no videos, no usable sources, or fewer than two videos without
            sources.
    """
    settings = settings or Settings()
    evaluator = evaluator or Evaluator("face", extractor=CropFaceKeypoints(settings.analysis_size))
    started, started_cpu = time.perf_counter(), time.process_time()
    notes: list[str] = []

    def tell(line: str) -> None:
        notes.append(line)
        if note is not None:
            note(line)

    size, analysis_size = model.frame_size, settings.analysis_size
    paths = list_videos(videos)
    portraits: list[SourceImage] = []
    if sources is not None:
        portraits, skipped = load_sources(sources, size, analysis_size)
        for line in skipped:
            tell(line)
        if not portraits:
            raise TPSMMError(f"{sources}: no face found in any of its images")
    elif len(paths) < 2:
        raise TPSMMError("without --sources, give at least two videos (each drives the others)")
    drivers: dict[str, DriverAnalysis] = {}
    for path in tqdm(paths, desc="driving videos", unit="video", disable=not progress):
        video = read_driving(
            path, size, analysis_size, max_frames=max_frames, frame_step=frame_step
        )
        if video.name in drivers:
            raise TPSMMError(f"{videos}: two videos are named {video.name!r}")
        drivers[video.name] = analyse_driver(model, video, evaluator, settings)
    ceiling = {name: ceiling_correlations(driver, settings) for name, driver in drivers.items()}
    measurable = measurable_signals(ceiling, settings.min_ceiling)
    reconstructions = [
        reconstruct_driver(model, driver, evaluator, settings)
        for driver in tqdm(drivers.values(), desc="reconstruction", disable=not progress)
    ]
    if sources is None:
        portraits = [source_from_frame(d.video, analysis_size) for d in drivers.values()]
    pairs: list[PairResult] = []
    total = len(portraits) * (len(drivers) - (sources is None))
    bar = tqdm(total=total, desc="cross-identity", unit="pair", disable=not progress)
    for portrait in portraits:
        animator = Animator(model, portrait.frame, "relative")
        found = analyse(evaluator, [portrait.analysis], np.ones(1, dtype=bool)).points[0]
        if not found.found:
            tell(f"{portrait.path}: no face found in the source's crop at the analysis size")
        for driver in drivers.values():
            if sources is None and driver.video.name == portrait.name:
                continue
            pairs.append(animate_pair(animator, portrait, found, driver, evaluator, settings))
            bar.update()
    bar.close()
    report = {
        "checkpoint": None,
        "config": model.config.name,
        "settings": {
            "model_size": size,
            "analysis_size": analysis_size,
            "max_frames": max_frames,
            "frame_step": frame_step,
            "batch_size": settings.batch_size,
            "identity_frames": settings.identity_frames,
            "min_frames": settings.min_frames,
            "min_ceiling": settings.min_ceiling,
            "signals": list(SIGNALS),
            "videos": str(videos),
            "sources": "first frames of the videos" if sources is None else str(sources),
        }
        | evaluator.describe(),
        "notes": notes,
        "reconstruction": summarize_reconstruction(reconstructions, measurable),
        "cross_identity": {
            "overall": summarize_pairs(pairs, measurable),
            "videos": {
                name: summarize_pairs([p for p in pairs if p.video == name], measurable)
                for name in drivers
            },
            "sources": {
                s.name: summarize_pairs([p for p in pairs if p.source == s.name], measurable)
                for s in portraits
            },
            "pairs": [pair.as_dict() for pair in pairs],
        },
        "ceiling": summarize_ceiling(ceiling, measurable),
        "seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - started_cpu,
    }
    grid = None
    if grid_pairs > 0:
        named = {portrait.name: portrait for portrait in portraits}
        blocks = _grid_blocks(pairs, named, drivers, reconstructions, settings, grid_pairs)
        grid = draw_grid(blocks)
    return report, grid


def grid_path(report_path: str | os.PathLike) -> Path:
    """Where the grid goes: beside the report, its suffix replaced by ``.png``."""
    return Path(report_path).with_suffix(".png")


def write_outputs(
    report: dict[str, Any], grid: Image.Image | None, out: str | os.PathLike
) -> list[Path]:
    """Write the JSON report to ``out`` and the grid beside it, each atomically; returns
    the paths written."""
    written = [Path(out)]
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    if grid is not None:
        with atomic_path(grid_path(out)) as tmp:
            grid.save(tmp, format="PNG")
        written.append(grid_path(out))
    return written
