"""``tpsmm prepare-videos``: raw videos -> a training dataset in the authors' layout.

Every video file under ``RAW_DIR`` (any depth) becomes zero or more clips under
``OUT_ROOT/train`` and ``OUT_ROOT/test``, each ``size`` x ``size``:

- ``kind="face"``: the face is followed through the video (:mod:`tpsmm.faces.tracking`).
  A clip ends where the face is lost for more than :data:`MAX_GAP_SECONDS`, at a shot
  change, where the face jumps (another face), or where it leaves the clip's first
  crop (IoU below :data:`MIN_IOU`, the authors' rule). Each clip has one crop, fixed
  over the clip as in the authors' VoxCeleb crops: a square with the training-crop
  margin of :mod:`tpsmm.faces.crop`, large enough for the face's movement in the clip.
- ``kind="box"``: one fixed box (``x, y, w, h`` pixels) for every video (bodies,
  TED talks); clips end at shot changes only.

Clips shorter than ``min_frames`` are dropped. A clip is named
``<video>#<first frame>.<format>`` (the part before ``#`` is its identity, so
``id_sampling`` groups the clips of one video), and all clips of one raw video go to
the same split: a seeded hash of its path decides, among the videos that gave
clips (when none lands in ``test``, the one nearest to it goes there).

Videos are processed in parallel, one per worker process. Each clip is written
under a hidden partial name and renamed at the end; an existing clip is kept and
reported as skipped. :class:`PrepareReport` lists every clip written and every video,
clip or stretch skipped, with the reason; it is also saved as
``OUT_ROOT/prepare-report.csv``.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import itertools
import os
import shutil
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tpsmm.errors import (
    DatasetError,
    MediaError,
    OutputError,
    TPSMMError,
    TPSMMNotice,
    first_line,
)
from tpsmm.faces.crop import CropBox, box_iou, crop_for_pose, fit_inside
from tpsmm.faces.tracking import find_face, frame_histogram, is_shot_change, track_faces
from tpsmm.files import check_writable_folder, write_error
from tpsmm.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReader, VideoWriter, load_image
from tpsmm.media.fit import resize_box
from tpsmm.workers import run_in_processes

KINDS = ("face", "box")
FORMATS = ("mp4", "png")
#: A face lost for longer than this ends its clip.
MAX_GAP_SECONDS = 0.2
#: A face whose crop overlaps the clip's first crop less than this ends the clip.
MIN_IOU = 0.25
DEFAULT_MIN_FRAMES = 64
DEFAULT_TEST_FRACTION = 0.2
REPORT_NAME = "prepare-report.csv"
#: Clips are written in OUT_ROOT/<prefix><pid> and moved into place at the end.
STAGING_PREFIX = ".prepare-partial-"
#: The frame rate given to the one-frame clips of still images.
STILL_FRAME_RATE = 25


@dataclass(frozen=True)
class PrepareOptions:
    """What :func:`prepare_videos` makes.

    Attributes:
        kind: ``face`` or ``box``; box: (x, y, w, h) for ``box``.
        size: side of the output frames; min_frames: shortest clip kept.
        format: ``mp4`` (H.264, crf ``crf``) or ``png`` (a folder of frames per clip).
        test_fraction: share of the raw videos that go to ``test``; seed: of that split.
        test_videos: the raw videos (by name: the clip-name prefix, see :func:`video_name`)
            that go to ``test``, all others to ``train``, instead of the seeded split (to
            keep chosen identities out of training).
        stills: still images under the raw folder become clips of one frame, cut around
            their face (``face``) or to the box, which ``min_frames`` does not drop: more
            identities for training the keypoint detector (a pair of such a clip is the
            frame twice, which ``motion_param`` moves).
    """

    kind: str = "face"
    box: tuple[int, int, int, int] | None = None
    size: int = 256
    min_frames: int = DEFAULT_MIN_FRAMES
    format: str = "mp4"
    crf: int = 12
    test_fraction: float = DEFAULT_TEST_FRACTION
    seed: int = 0
    test_videos: tuple[str, ...] = ()
    stills: bool = False

    def check(self) -> None:
        """Raise TPSMMError for options that cannot work."""
        if self.kind not in KINDS:
            raise TPSMMError(f"unknown kind {self.kind!r}; choose face or box")
        if self.kind == "box" and self.box is None:
            raise TPSMMError("--kind box needs --box x,y,w,h")
        if self.box is not None and (min(self.box[2:]) < 1 or min(self.box[:2]) < 0):
            raise TPSMMError(f"--box must be x,y,w,h with x, y >= 0 and w, h >= 1, got {self.box}")
        if self.format not in FORMATS:
            raise TPSMMError(f"unknown format {self.format!r}; choose mp4 or png")
        if self.size < 8 or self.min_frames < 2 or not 0 <= self.test_fraction < 1:
            raise TPSMMError("--size must be >= 8, --min-frames >= 2, --test-fraction in [0, 1)")


@dataclass(frozen=True)
class ClipPlan:
    """One clip of a raw video: frames [start, end) cut to ``box`` (l, t, r, b pixels)
    and resized to the output size."""

    start: int
    end: int
    box: tuple[float, float, float, float]

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Entry:
    """One line of the report: a clip written, or something skipped and why."""

    video: str
    status: str  # "written" or "skipped"
    reason: str = ""
    clip: str = ""
    split: str = ""
    start: int = -1
    end: int = -1
    box: str = ""


@dataclass
class PrepareReport:
    """What :func:`prepare_videos` did."""

    root: Path
    entries: list[Entry] = field(default_factory=list)

    @property
    def written(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.status == "written"]

    @property
    def skipped(self) -> list[Entry]:
        return [entry for entry in self.entries if entry.status == "skipped"]

    def format(self) -> str:
        """A human-readable summary, one line per skipped item."""
        splits = {name: sum(e.split == name for e in self.written) for name in ("train", "test")}
        frames = sum(e.end - e.start for e in self.written)
        lines = [
            f"{self.root}: wrote {len(self.written)} clips ({frames} frames; "
            f"train {splits['train']}, test {splits['test']}), skipped {len(self.skipped)}"
        ]
        for entry in self.skipped:
            where = f" frames {entry.start}-{entry.end}" if entry.start >= 0 else ""
            lines.append(f"  skipped {entry.video}{where}: {entry.reason}")
        return "\n".join(lines)

    def save(self) -> Path:
        """Write the report as CSV into the root; returns its path."""
        path = self.root / REPORT_NAME
        names = list(Entry.__dataclass_fields__)
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for entry in self.entries:
                writer.writerow([getattr(entry, name) for name in names])
        return path


def find_raw_videos(raw_dir: Path, *, stills: bool = False) -> list[Path]:
    """Video files (and, with ``stills``, image files) under ``raw_dir`` (any depth,
    hidden ones skipped), sorted."""
    if not raw_dir.is_dir():
        raise DatasetError(f"{raw_dir}: not a folder of raw videos")
    suffixes = VIDEO_SUFFIXES | IMAGE_SUFFIXES if stills else VIDEO_SUFFIXES
    found = [
        path
        for path in raw_dir.rglob("*")
        if path.is_file()
        and path.suffix.lower() in suffixes
        and not any(part.startswith(".") for part in path.relative_to(raw_dir).parts)
    ]
    return sorted(found)


def video_name(raw_dir: Path, path: Path) -> str:
    """The clip-name prefix (identity) of a raw video: its path under ``raw_dir``
    without suffix, folders joined by ``_`` (``#`` replaced)."""
    parts = path.relative_to(raw_dir).with_suffix("").parts
    return "_".join(parts).replace("#", "_")


def split_of(name: str, seed: int, test_fraction: float) -> float:
    """A number in [0, 1) fixed by the video's name and the seed (below the test
    fraction: test)."""
    digest = hashlib.sha256(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


# Planning the clips of one video --------------------------------------------------------


def plan_face_clips(
    poses: np.ndarray,
    segments: np.ndarray,
    frame_size: tuple[int, int],
    max_gap: int,
) -> list[tuple[ClipPlan | None, int, int, str]]:
    """Clips of a tracked video: (plan, start, end, reason) for each stretch, with plan
    None and a reason for stretches that hold no clip. Lengths are checked later."""
    found = ~np.isnan(poses[:, 0])
    results: list[tuple[ClipPlan | None, int, int, str]] = []
    start = None
    first: CropBox | None = None
    last_seen = -1
    for index in range(len(poses) + 1):
        end_here = index == len(poses)
        if not end_here and start is not None:
            new_segment = segments[index] != segments[start]
            lost = not found[index] and index - last_seen > max_gap
            moved = False
            if found[index] and first is not None:
                moved = box_iou(first, crop_for_pose(poses[index])) < MIN_IOU
            end_here = new_segment or lost or moved
        if end_here and start is not None:
            stop = last_seen + 1
            results.append((_clip_box(poses, start, stop, frame_size), start, stop, ""))
            start, first = None, None
        if index == len(poses):
            break
        if found[index]:
            if start is None:
                start, first = index, crop_for_pose(poses[index])
            last_seen = index
    if not found.any():
        results.append((None, 0, len(poses), "no face found"))
    return results


def _clip_box(poses: np.ndarray, start: int, stop: int, frame_size: tuple[int, int]) -> ClipPlan:
    """One crop for frames [start, stop): centred on the range of the face's crops,
    the median crop's side widened by that range, moved inside the frame."""
    rows = poses[start:stop]
    rows = rows[~np.isnan(rows[:, 0])]
    boxes = np.stack([crop_for_pose(row).as_array() for row in rows])
    low, high = boxes[:, :2].min(axis=0), boxes[:, :2].max(axis=0)
    centre = (low + high) / 2
    side = float(np.median(boxes[:, 2]) + (high - low).max())
    box = fit_inside(CropBox(float(centre[0]), float(centre[1]), side), *frame_size)
    return ClipPlan(start, stop, box.bounds)


def plan_box_clips(
    cuts: list[int], num_frames: int, box: tuple[int, int, int, int]
) -> list[tuple[ClipPlan | None, int, int, str]]:
    """Clips between shot changes (``cuts``: first frames of new shots), all cut to the
    rectangle ``box`` (x, y, w, h)."""
    x, y, w, h = box
    bounds = [0, *cuts, num_frames]
    plans: list[tuple[ClipPlan | None, int, int, str]] = []
    for start, stop in itertools.pairwise(bounds):
        plan = ClipPlan(start, stop, (float(x), float(y), float(x + w), float(y + h)))
        plans.append((plan, start, stop, ""))
    return plans


# One video -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Task:
    path: Path
    name: str
    staging: Path
    options: PrepareOptions
    existing: frozenset[str]


def _process_video(task: _Task) -> list[Entry]:
    """Plan and write the clips of one raw video into the staging folder (a worker)."""
    options = task.options
    label = str(task.path)
    if task.path.suffix.lower() in IMAGE_SUFFIXES:
        return _process_still(task)
    try:
        with VideoReader(task.path, check=True) as reader:
            width, height = reader.size
            if options.kind == "face":
                track = track_faces(reader)
                max_gap = max(1, round(MAX_GAP_SECONDS * float(reader.frame_rate)))
                stretches = plan_face_clips(track.poses, track.segments, (width, height), max_gap)
            else:
                outside = _box_outside(options, width, height, "frame")
                if outside:
                    return [Entry(label, "skipped", outside)]
                cuts, count = _shot_changes(reader)
                stretches = plan_box_clips(cuts, count, options.box)
            entries: list[Entry] = []
            plans: list[ClipPlan] = []
            for plan, start, stop, reason in stretches:
                if plan is None:
                    entries.append(Entry(label, "skipped", reason, start=start, end=stop))
                elif plan.frames < options.min_frames:
                    entries.append(
                        Entry(
                            label,
                            "skipped",
                            f"clip of {plan.frames} frames, shorter than --min-frames "
                            f"{options.min_frames}",
                            start=start,
                            end=stop,
                        )
                    )
                else:
                    clip = f"{task.name}#{plan.start:06d}{_suffix(options)}"
                    if clip in task.existing:
                        entries.append(
                            Entry(label, "skipped", "exists", clip=clip, start=start, end=stop)
                        )
                    else:
                        plans.append(plan)
            if plans:
                _write_clips(reader, plans, task, options)
            for plan in plans:
                left, top, right, bottom = plan.box
                entries.append(
                    Entry(
                        label,
                        "written",
                        clip=f"{task.name}#{plan.start:06d}{_suffix(options)}",
                        start=plan.start,
                        end=plan.end,
                        box=f"{left:.1f},{top:.1f},{right - left:.1f},{bottom - top:.1f}",
                    )
                )
            return entries
    except OutputError:
        raise
    except TPSMMError as error:
        return [Entry(label, "skipped", first_line(error))]


def _process_still(task: _Task) -> list[Entry]:
    """A still image as a clip of one frame, cut around its face or to the box."""
    options = task.options
    label = str(task.path)
    clip = f"{task.name}#{0:06d}{_suffix(options)}"
    if clip in task.existing:
        return [Entry(label, "skipped", "exists", clip=clip, start=0, end=1)]
    try:
        image = load_image(task.path)
        height, width = image.shape[:2]
        if options.kind == "face":
            pose = find_face(image)
            if pose is None:
                return [Entry(label, "skipped", "no face found")]
            box = fit_inside(crop_for_pose(pose), width, height).bounds
        else:
            outside = _box_outside(options, width, height, "image")
            if outside:
                return [Entry(label, "skipped", outside)]
            x, y, w, h = options.box
            box = (float(x), float(y), float(x + w), float(y + h))
        pixels = resize_box(image, box, (options.size, options.size))
        with _writing(task):
            writer = VideoWriter(task.staging / clip, STILL_FRAME_RATE, crf=options.crf)
        try:
            with _writing(task):
                writer.write(pixels)
                writer.close()
        except BaseException:
            writer.abort()
            raise
    except OutputError:
        raise
    except TPSMMError as error:
        return [Entry(label, "skipped", first_line(error))]
    left, top, right, bottom = box
    size = f"{left:.1f},{top:.1f},{right - left:.1f},{bottom - top:.1f}"
    return [Entry(label, "written", clip=clip, start=0, end=1, box=size)]


def _box_outside(options: PrepareOptions, width: int, height: int, what: str) -> str:
    """Why ``--box`` cannot cut a ``width`` x ``height`` frame or image (``what``), or ""."""
    assert options.box is not None
    x, y, w, h = options.box
    if x + w > width or y + h > height:
        return f"--box reaches outside the {width}x{height} {what}"
    return ""


def _suffix(options: PrepareOptions) -> str:
    return ".mp4" if options.format == "mp4" else ""


def _shot_changes(reader: VideoReader) -> tuple[list[int], int]:
    """First frames of new shots, and the number of frames."""
    cuts, previous, count = [], None, 0
    for index, frame in enumerate(reader):
        histogram = frame_histogram(frame)
        if previous is not None and is_shot_change(previous, histogram):
            cuts.append(index)
        previous, count = histogram, index + 1
    return cuts, count


def _write_clips(
    reader: VideoReader, plans: list[ClipPlan], task: _Task, options: PrepareOptions
) -> None:
    """One decoding pass writing every planned clip (they do not overlap)."""
    plans = sorted(plans, key=lambda plan: plan.start)
    current = 0
    writer: VideoWriter | None = None
    try:
        for index, frame in enumerate(reader):
            while current < len(plans) and index >= plans[current].end:
                assert writer is not None
                writer.close()
                writer, current = None, current + 1
            if current == len(plans):
                break
            plan = plans[current]
            if index < plan.start:
                continue
            if writer is None:
                name = f"{task.name}#{plan.start:06d}{_suffix(options)}"
                with _writing(task):
                    writer = VideoWriter(
                        task.staging / name, reader.frame_rate, crf=options.crf, preset="medium"
                    )
            pixels = resize_box(frame, plan.box, (options.size, options.size))
            with _writing(task):
                writer.write(pixels)
        if writer is not None:
            with _writing(task):
                writer.close()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise


@contextlib.contextmanager
def _writing(task: _Task) -> Iterator[None]:
    """A clip that cannot be written (a full disk) stops the whole job with an
    OutputError naming the dataset folder; reading errors only skip their video."""
    try:
        yield
    except MediaError as error:
        reason = str(error).split(": ", 1)[-1]
        raise OutputError(f"{task.staging.parent}: {reason}") from None
    except OSError as error:
        raise write_error(task.staging.parent, error) from None


# The whole job -------------------------------------------------------------------------


def prepare_videos(
    raw_dir: str | os.PathLike,
    out_root: str | os.PathLike,
    options: PrepareOptions | None = None,
    *,
    jobs: int | None = None,
    on_video: Callable[[int, int], None] | None = None,
) -> PrepareReport:
    """Cut the raw videos of ``raw_dir`` into a dataset at ``out_root`` (see the module
    docstring); ``jobs`` worker processes (default: the CPU count, at most the number of
    videos). Returns the report (also saved in ``out_root``).

    Raises:
        TPSMMError: bad options, no raw folder or no videos in it.
    """
    options = options or PrepareOptions()
    options.check()
    raw_dir, out_root = Path(raw_dir), Path(out_root)
    videos = find_raw_videos(raw_dir, stills=options.stills)
    if not videos:
        raise DatasetError(
            f"{raw_dir}: no video files found (looked for {', '.join(sorted(VIDEO_SUFFIXES)[:6])}, ...)"
        )
    names = {path: video_name(raw_dir, path) for path in videos}
    unknown = sorted(set(options.test_videos) - set(names.values()))
    if unknown:
        raise DatasetError(
            f"{raw_dir}: --test-videos names no video here: {', '.join(unknown)} "
            f"(names are paths under the folder without suffix, e.g. {min(names.values())})"
        )
    check_writable_folder(out_root)
    created = _new_folders([out_root / "train", out_root / "test"])
    existing = {
        entry.name: split for split in ("train", "test") for entry in (out_root / split).iterdir()
    }
    _remove_stale_staging(out_root)
    staging = out_root / f"{STAGING_PREFIX}{os.getpid()}"
    tasks = [_Task(path, names[path], staging, options, frozenset(existing)) for path in videos]
    entries: list[Entry] = []
    moved: list[Path] = []  # the clips of this run in train/ and test/
    report = PrepareReport(out_root)
    try:
        staging.mkdir(parents=True, exist_ok=True)
        for done, video_entries in enumerate(_run(tasks, jobs), start=1):
            entries.extend(video_entries)
            if on_video is not None:
                on_video(done, len(tasks))
        # Split among the videos that gave clips (now or in an earlier run).
        with_clips = sorted(
            {names[Path(e.video)] for e in entries if e.status == "written" or e.reason == "exists"}
        )
        splits = _assign_splits(with_clips, options)
        for entry in entries:  # a video already in the dataset stays in its split
            if entry.reason == "exists":
                splits[names[Path(entry.video)]] = existing[entry.clip]
        for entry in entries:
            if entry.status == "written":
                split = splits[names[Path(entry.video)]]
                os.replace(staging / entry.clip, out_root / split / entry.clip)
                moved.append(out_root / split / entry.clip)
                entry = Entry(**{**entry.__dict__, "split": split})
            elif entry.reason == "exists":
                entry = Entry(**{**entry.__dict__, "split": existing[entry.clip]})
            report.entries.append(entry)
        report.entries.sort(key=lambda e: (e.video, e.start, e.clip))
        report.save()
    except BaseException as error:  # stopped or failed: nothing of this run is left
        _undo(staging, moved, created, out_root / REPORT_NAME if not existing else None)
        if isinstance(error, OSError):  # a full disk: one line naming the dataset
            raise write_error(out_root, error) from None
        raise
    shutil.rmtree(staging, ignore_errors=True)
    _note_empty_test(out_root, report, options)
    return report


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _note_empty_test(out_root: Path, report: PrepareReport, options: PrepareOptions) -> None:
    """Say when the run asked for a test split and test/ holds no clip: one raw video
    gave clips (a video's clips all go to one split)."""
    if not report.written or not (options.test_fraction > 0 or options.test_videos):
        return
    if any(entry.split == "test" for entry in report.entries) or any((out_root / "test").iterdir()):
        return
    sources = len({entry.video for entry in report.entries if entry.split == "train"})
    warnings.warn(
        f"{out_root / 'test'}: no clips: the clips of {_plural(sources, 'raw video')} all "
        "went to train/ (a video's clips stay in one split); training works, tpsmm "
        "evaluate and reconstruct need test clips: add raw videos (two or more give a "
        "test split)",
        TPSMMNotice,
        stacklevel=3,
    )


def _undo(staging: Path, moved: list[Path], created: list[Path], report: Path | None) -> None:
    """Remove what a stopped or failed run wrote: its staging folder, the clips it moved
    into place, the report of a new dataset, and the folders it made (if empty)."""
    shutil.rmtree(staging, ignore_errors=True)
    for path in [*moved, *([report] if report is not None else [])]:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    for folder in reversed(created):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if still empty


def _new_folders(folders: list[Path]) -> list[Path]:
    """Make ``folders`` (and their parents); the ones made here, parents first."""
    created: list[Path] = []
    for folder in folders:
        missing = [p for p in (folder, *folder.parents) if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        created.extend(p for p in reversed(missing) if p not in created)
    return created


def _remove_stale_staging(out_root: Path) -> None:
    """Remove the staging folders of runs that were killed (``kill -9``, a power cut):
    those of processes that no longer run."""
    for folder in out_root.glob(f"{STAGING_PREFIX}*"):
        pid = folder.name.removeprefix(STAGING_PREFIX)
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process
        return True
    return True


def _assign_splits(names: list[str], options: PrepareOptions) -> dict[str, str]:
    """train or test per raw video name: the named test videos, or else a seeded split
    with at least one test video when there are two or more videos and the test fraction
    is not 0."""
    if options.test_videos:
        return {name: "test" if name in options.test_videos else "train" for name in names}
    keys = {name: split_of(name, options.seed, options.test_fraction) for name in names}
    splits = {
        name: "test" if key < options.test_fraction else "train" for name, key in keys.items()
    }
    if options.test_fraction > 0 and len(names) > 1 and "test" not in splits.values():
        splits[min(keys, key=keys.get)] = "test"
    if len(names) > 1 and "train" not in splits.values():
        splits[max(keys, key=keys.get)] = "train"
    return splits


def _run(tasks: list[_Task], jobs: int | None) -> Iterator[list[Entry]]:
    """Entries per video, from ``jobs`` worker processes (in this process for one);
    a signal to the command, or to its whole process group, stops the workers
    (:mod:`tpsmm.workers`)."""
    jobs = min(jobs or os.cpu_count() or 1, len(tasks))
    if jobs <= 1:
        for task in tasks:
            yield _process_video(task)
        return
    yield from run_in_processes(_process_video, tasks, jobs, describe=lambda task: str(task.path))


def parse_box(text: str) -> tuple[int, int, int, int]:
    """``"x,y,w,h"`` -> four integers (argparse type function)."""
    parts = [part for part in text.split(",") if part.strip()]
    try:
        values = tuple(int(part) for part in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h (four whole numbers), got {text!r}")
    return values  # type: ignore[return-value]


__all__ = [
    "FORMATS",
    "KINDS",
    "ClipPlan",
    "Entry",
    "PrepareOptions",
    "PrepareReport",
    "find_raw_videos",
    "parse_box",
    "plan_box_clips",
    "plan_face_clips",
    "prepare_videos",
]
