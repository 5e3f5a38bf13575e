"""``check_dataset``: open every video of a dataset and report what training would trip on.

Errors (the dataset needs fixing): a split with no videos, a missing ``train/`` or
``test/`` next to the other, a video that cannot be read (or a strip that does not fit
the frame shape, or has none), a video with no frames, a folder whose frames differ in
size when no frame shape is given.

Warnings: a one-frame video (its training pairs are that frame twice), and videos of
different frame sizes when no frame shape is given (batches of more than one item then
need ``frame_shape`` or a crop).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tpsmm.data.datasets import identity_of, split_videos
from tpsmm.data.video_io import (
    STRIP_EXTENSIONS,
    ScanResult,
    list_videos,
    open_video,
    parse_frame_shape,
)
from tpsmm.errors import DatasetError

__all__ = ["DatasetReport", "Finding", "SplitReport", "VideoInfo", "check_dataset"]

ProgressCallback = Callable[[int, int, Path], None]


@dataclass(frozen=True)
class Finding:
    """One problem (``severity='error'``) or remark (``'warning'``) about one path."""

    severity: str
    kind: str
    path: Path
    message: str


@dataclass(frozen=True)
class VideoInfo:
    """A readable video: frame count and the distinct stored frame sizes ``(H, W)``."""

    path: Path
    num_frames: int
    frame_sizes: frozenset[tuple[int, int]]


@dataclass
class SplitReport:
    """The videos of one split (``train`` or ``test``) that could be read, and counts."""

    name: str
    num_videos: int = 0
    videos: list[VideoInfo] = field(default_factory=list)
    identities: set[str] = field(default_factory=set)

    @property
    def num_frames(self) -> int:
        """Frames of the readable videos."""
        return sum(v.num_frames for v in self.videos)

    @property
    def num_identities(self) -> int:
        """Distinct identities (file name up to the first ``#``) among all videos."""
        return len(self.identities)

    @property
    def frame_sizes(self) -> Counter[tuple[int, int]]:
        """How many readable videos have each frame size."""
        return Counter(size for v in self.videos for size in v.frame_sizes)


@dataclass
class DatasetReport:
    """The result of :func:`check_dataset`; ``format()`` renders it for a terminal."""

    root: Path
    layout: str
    frame_shape: tuple[int, int] | None
    splits: list[SplitReport] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        """Findings that make the dataset unusable as it is."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings worth knowing that do not stop training."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return not self.errors

    def format(self) -> str:
        """A readable multi-line summary ending with the verdict."""
        shape = "none" if self.frame_shape is None else "{}x{}".format(*self.frame_shape)
        lines = [f"Dataset {self.root}", f"  layout: {self.layout}; frame shape: {shape}"]
        width = max((len(s.name) for s in self.splits), default=0)
        for split in self.splits:
            sizes = ", ".join(
                f"{h}x{w} in {_plural(n, 'video')}"
                for (h, w), n in sorted(split.frame_sizes.items())
            )
            lines.append(
                f"  {split.name + ':':<{width + 1}} {_plural(split.num_videos, 'video')}, "
                f"{_plural(split.num_frames, 'frame')}, "
                f"{_plural(split.num_identities, 'identity', 'identities')}"
                + (f"; frames {sizes}" if sizes else "")
            )
        for title, findings in (("Errors", self.errors), ("Warnings", self.warnings)):
            if findings:
                lines.append(f"{title} ({len(findings)}):")
                lines.extend(f"  {f.kind:<12} {self._show(f.path)}: {f.message}" for f in findings)
        verdict = "the dataset needs fixing" if self.errors else "ok"
        lines.append(
            f"{_plural(len(self.errors), 'error')}, {_plural(len(self.warnings), 'warning')}: "
            f"{verdict}"
        )
        return "\n".join(lines)

    def _show(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root)) or "."
        except ValueError:
            return str(path)


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def _layout(
    root: Path, random_seed: int
) -> tuple[str, list[tuple[str, Path, list[Path]]], list[Finding]]:
    """The layout description, the splits ``(name, folder, videos)`` and layout findings."""
    findings: list[Finding] = []
    present = [name for name in ("train", "test") if (root / name).is_dir()]
    if present:
        splits = []
        for name in ("train", "test"):
            folder = root / name
            if name in present:
                splits.append((name, folder, list_videos(folder)))
            else:
                findings.append(Finding("error", "missing", folder, "folder not found"))
        return "train/ and test/ folders", splits, findings
    videos = list_videos(root)
    train, test = split_videos(videos, random_seed)
    layout = f"random 80/20 split of {len(videos)} videos (seed {random_seed})"
    return layout, [("train", root, train), ("test", root, test)], findings


def _inspect(
    path: Path, frame_shape: tuple[int, int] | None, quick: bool
) -> tuple[VideoInfo | None, list[Finding]]:
    """Scan one video; ``(info, findings)`` with ``info`` None when it cannot be read."""
    try:
        result: ScanResult = open_video(path, frame_shape).scan(quick=quick)
    except DatasetError as error:
        kind = "bad strip" if path.suffix.lower() in STRIP_EXTENSIONS else "unreadable"
        return None, [Finding("error", kind, path, _reason(str(error), path))]
    findings = []
    if result.num_frames == 0:
        findings.append(Finding("error", "empty", path, "no frames"))
    elif result.num_frames == 1:
        findings.append(
            Finding("warning", "one frame", path, "1 frame: its training pairs repeat it")
        )
    if frame_shape is None and len(result.frame_sizes) > 1:
        sizes = ", ".join("{}x{}".format(*s) for s in sorted(result.frame_sizes))
        findings.append(
            Finding("error", "mixed sizes", path, f"frames of sizes {sizes}; set a frame shape")
        )
    return VideoInfo(path, result.num_frames, result.frame_sizes), findings


def _reason(message: str, path: Path) -> str:
    """The error message without a leading ``'<path>: '``."""
    prefix = f"{path}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def check_dataset(
    root: str | os.PathLike[str],
    frame_shape: Sequence[int] | None = None,
    *,
    random_seed: int = 0,
    quick: bool = False,
    progress: ProgressCallback | None = None,
) -> DatasetReport:
    """Open every video under ``root`` (its ``train/`` and ``test/``, or the 80/20 split).

    ``frame_shape``: ``(H, W)`` or ``(H, W, 3)``, as ``dataset_params.frame_shape``.
    ``quick``: read only the first frame of each video, taking counts from the file
    listing or the container. ``progress(done, total, path)`` is called after each video.
    Raises :class:`DatasetError` only when ``root`` is not a folder; everything else is
    in the report.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    shape = parse_frame_shape(frame_shape)
    layout, splits, findings = _layout(root, random_seed)
    report = DatasetReport(root, layout, shape, findings=findings)
    total = sum(len(videos) for _, _, videos in splits)
    done = 0
    for name, folder, videos in splits:
        split = SplitReport(name, num_videos=len(videos))
        split.identities = {identity_of(v) for v in videos}
        report.splits.append(split)
        if not videos and name == "test" and report.splits[0].num_videos:
            report.findings.append(  # a dataset of one raw video (prepare-videos)
                Finding(
                    "warning",
                    "no videos",
                    folder,
                    "no test videos: training works; tpsmm evaluate and reconstruct need them",
                )
            )
        elif not videos:
            report.findings.append(Finding("error", "no videos", folder, f"no {name} videos"))
        for video in videos:
            info, found = _inspect(video, shape, quick)
            if info is not None:
                split.videos.append(info)
            report.findings.extend(found)
            done += 1
            if progress is not None:
                progress(done, total, video)
    _note_mixed_sizes(report)
    return report


def _note_mixed_sizes(report: DatasetReport) -> None:
    """Warn when videos differ in frame size and no frame shape evens them out."""
    if report.frame_shape is not None:
        return
    sizes: Counter[tuple[int, int]] = Counter()
    for split in report.splits:
        sizes.update(split.frame_sizes)
    if len(sizes) > 1:
        listed = ", ".join(
            f"{h}x{w} in {_plural(n, 'video')}" for (h, w), n in sorted(sizes.items())
        )
        report.findings.append(
            Finding(
                "warning",
                "sizes differ",
                report.root,
                f"videos have frames of sizes {listed}; batches of more than one item need "
                "a frame shape or a crop",
            )
        )
