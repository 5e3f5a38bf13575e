"""``tpsmm evaluate``: the metrics of generated videos against reference videos, from files.

``generated`` and ``reference`` are each

* a video file, a folder of frame images, or a still image (compared with every frame
  of the other side); or
* a folder of videos: video files and folders of frames, matched with the other side's
  by name (a file's name without its suffix, a folder's name). Every generated video
  needs a reference; reference videos without a generated one are listed in the report
  (``unmatched_reference``) and left out. A folder of videos may also be compared with
  one reference video: each of its videos against that one.

A folder holding image files is a folder of frames; one holding only videos and
folders is a folder of videos. Frames are compared in order, up to the shorter side
(the report keeps both counts). The report (:func:`evaluate`) holds the settings,
``overall`` (every frame of every video weighed equally) and ``videos`` (by name), each
with the metrics of :mod:`.metrics` and the frame counts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, repeat
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from tpsmm.errors import TPSMMError
from tpsmm.evaluation.compare import Evaluator, VideoEvaluation
from tpsmm.evaluation.metrics import METRICS, MetricTotals
from tpsmm.files import atomic_path
from tpsmm.media import VIDEO_SUFFIXES, VideoReader, list_frame_files, load_image, probe
from tpsmm.media._common import GIF_SUFFIX

__all__ = ["Clip", "evaluate", "format_table", "match_clips", "write_report"]

_VIDEO_FILES = VIDEO_SUFFIXES | {GIF_SUFFIX}
#: Frames read and compared per step.
CHUNK = 16


@dataclass(frozen=True)
class Clip:
    """One video to compare: a video file, a folder of frames or a still image.

    Attributes:
        name: the name it is matched and reported by.
        path: where it is.
        still: a single image, repeated to the other side's length.
    """

    name: str
    path: Path
    still: bool = False

    @classmethod
    def open(cls, path: Path, name: str | None = None) -> Clip:
        """The clip at ``path`` (a video file, a folder of frames or an image)."""
        kind = probe(path)
        return cls(name or (path.name if kind == "folder" else path.stem), path, kind == "image")

    def frames(self) -> Iterator[np.ndarray]:
        """Its frames, (H, W, 3) uint8; a still image's one frame again and again (the
        same object)."""
        if self.still:
            yield from repeat(load_image(self.path))
            return
        with VideoReader(self.path) as reader:
            yield from reader

    def count(self) -> int | None:
        """The frame count the container states (None for a folder without it or a still)."""
        if self.still:
            return None
        with VideoReader(self.path) as reader:
            return reader.num_frames


def _is_collection(path: Path) -> bool:
    """A folder of videos (no image files directly in it, some videos or folders)."""
    if not path.is_dir() or list_frame_files(path):
        return False
    return any(_collection_entries(path))


def _collection_entries(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() in _VIDEO_FILES):
            yield entry


def _collection(folder: Path) -> dict[str, Clip]:
    clips: dict[str, Clip] = {}
    for entry in _collection_entries(folder):
        clip = Clip.open(entry)
        if clip.name in clips:
            raise TPSMMError(
                f"{folder}: two videos are named {clip.name!r} "
                f"({clips[clip.name].path.name} and {entry.name})"
            )
        clips[clip.name] = clip
    return clips


def match_clips(
    generated: str | os.PathLike, reference: str | os.PathLike
) -> tuple[list[tuple[Clip, Clip]], list[str]]:
    """The (generated, reference) pairs to compare, and the unmatched reference names.

    Raises:
        TPSMMError: a path is missing or holds nothing to compare, a generated video has
            no reference, or one generated video is given against a folder of videos.
    """
    generated, reference = Path(generated), Path(reference)
    for path in (generated, reference):
        if not path.exists():
            raise TPSMMError(f"{path}: no such file or directory")
        if path.is_dir() and not list_frame_files(path) and not _is_collection(path):
            raise TPSMMError(f"{path}: holds no frames and no videos")
    many_generated, many_reference = _is_collection(generated), _is_collection(reference)
    if not many_generated:
        if many_reference:
            raise TPSMMError(
                f"{generated} is one video but {reference} is a folder of videos: give "
                "the matching reference video, or a folder of generated videos"
            )
        clip = Clip.open(generated)
        return [(clip, Clip.open(reference, clip.name))], []
    clips = _collection(generated)
    if not many_reference:
        single = Clip.open(reference)
        return [(clip, single) for clip in clips.values()], []
    references = _collection(reference)
    missing = [name for name in clips if name not in references]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise TPSMMError(f"{reference}: no reference video for {len(missing)} generated: {shown}")
    pairs = [(clip, references[name]) for name, clip in clips.items()]
    return pairs, sorted(set(references) - set(clips))


def _expected_frames(pairs: list[tuple[Clip, Clip]], max_frames: int | None) -> int | None:
    """The number of frame pairs to compare, when the containers state their counts."""
    total = 0
    for generated, reference in pairs:
        counts = [c for c in (generated.count(), reference.count()) if c is not None]
        if max_frames is not None:
            counts.append(max_frames)
        if not counts:
            return None
        total += min(counts)
    return total


def _compare(
    video: VideoEvaluation, generated: Clip, reference: Clip, max_frames: int | None, bar: tqdm
) -> dict[str, int | None]:
    """Compare one pair frame by frame; returns both sides' frame counts (None: not read
    to the end because of ``max_frames``; 1 for a still image)."""
    if generated.still and reference.still:
        max_frames = 1
    gen_frames, ref_frames = generated.frames(), reference.frames()
    compared, leftover, limited = 0, {"generated": 0, "reference": 0}, False
    try:
        while True:
            if max_frames is not None and compared >= max_frames:
                limited = True
                break
            step = CHUNK if max_frames is None else min(CHUNK, max_frames - compared)
            gen_batch = list(islice(gen_frames, step))
            ref_batch = list(islice(ref_frames, len(gen_batch)))
            count = len(ref_batch)
            if count:
                video.add(gen_batch[:count], ref_batch)
                compared += count
                bar.update(count)
            if count < step:  # one side has ended
                leftover["generated"] = len(gen_batch) - count
                break
        counts: dict[str, int | None] = {}
        for side, clip, frames in (
            ("generated", generated, gen_frames),
            ("reference", reference, ref_frames),
        ):
            if clip.still:
                counts[f"{side}_frames"] = 1
            elif limited:
                counts[f"{side}_frames"] = None
            else:
                counts[f"{side}_frames"] = compared + leftover[side] + sum(1 for _ in frames)
        return counts
    finally:
        gen_frames.close()
        ref_frames.close()


def evaluate(
    generated: str | os.PathLike,
    reference: str | os.PathLike,
    *,
    kind: str = "face",
    metrics: str | list[str] | None = None,
    out: str | os.PathLike | None = None,
    max_frames: int | None = None,
    evaluator: Evaluator | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """The metrics of generated videos against their references (see the module doc).

    Args:
        generated, reference: videos, folders of frames, still images or folders of them.
        kind: ``"face"`` or ``"body"``.
        metrics: a subset of ``l1, akd, mkr, aed`` (default: all of ``kind``'s).
        out: write the report there as JSON (atomically).
        max_frames: compare at most this many frames per video.
        evaluator: an :class:`Evaluator` to use (its kind and metrics win).
        progress: show a progress bar (frames).

    Returns:
        ``{"kind", "metrics", "detector", "generated", "reference", "overall",
        "videos": {name: {...}}, "unmatched_reference"}``; each metric is None where
        nothing was measured.

    Raises:
        TPSMMError: bad inputs (:func:`match_clips`), a bad metric list, or a missing extra.
    """
    if max_frames is not None and max_frames < 1:
        raise TPSMMError(f"max_frames must be at least 1, got {max_frames}")
    pairs, unmatched = match_clips(generated, reference)
    evaluator = evaluator or Evaluator(kind, metrics)
    totals = MetricTotals()
    videos: dict[str, Any] = {}
    total = _expected_frames(pairs, max_frames)
    with tqdm(total=total, desc="evaluate", unit="frame", disable=not progress) as bar:
        for gen_clip, ref_clip in pairs:
            video = evaluator.video()
            counts = _compare(video, gen_clip, ref_clip, max_frames, bar)
            if video.totals.frames == 0:
                raise TPSMMError(f"{gen_clip.path}: no frames to compare")
            videos[gen_clip.name] = video.summary() | counts
            totals = totals.merge(video.totals)
    overall = evaluator.summarize(totals) | {"videos": len(videos)}
    report = evaluator.describe() | {
        "generated": str(generated),
        "reference": str(reference),
        "overall": overall,
        "videos": videos,
        "unmatched_reference": unmatched,
    }
    if out is not None:
        write_report(report, out)
    return report


def write_report(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write ``report`` as indented JSON, atomically (parent folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    return path


_COLUMNS = (
    ("frames", "frames", "{:d}"),
    ("l1", "L1", "{:.4f}"),
    ("akd", "AKD", "{:.3f}"),
    ("akd_euclidean", "AKD eucl", "{:.3f}"),
    ("mkr", "MKR", "{:.4f}"),
    ("aed", "AED", "{:.4f}"),
    ("aed_squared", "AED sq", "{:.4f}"),
)
assert {key for key, _, _ in _COLUMNS} >= set(METRICS)


def format_table(report: dict[str, Any]) -> str:
    """The per-video and overall figures as a plain-text table ("-" where not measured)."""
    rows = [(name, entry) for name, entry in report["videos"].items()]
    rows.append(("overall", report["overall"]))
    width = max(len("video"), *(len(name) for name, _ in rows))
    header = "video".ljust(width) + "".join(f"{title:>10}" for _, title, _ in _COLUMNS)
    lines = [header]
    for index, (name, entry) in enumerate(rows):
        if index == len(rows) - 1 and len(rows) > 1:
            lines.append("-" * len(header))
        cells = []
        for key, _, form in _COLUMNS:
            value = entry.get(key)
            cells.append(f"{'-' if value is None else form.format(value):>10}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
