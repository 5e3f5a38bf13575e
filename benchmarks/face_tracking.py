"""Face detection and tracking for ``--crop-face``: accuracy, speed and box jitter.

On the bundled video (169 frames, 410x412) and on its 1080x1920 portrait version
(tests/footage.py), compares

- ``tracker``: tpsmm's (:func:`tpsmm.faces.tracking.track_faces`): dlib HOG at the
  scale that brings the face to about 90 px, searched around the last face, then the
  68-point landmarks on the full frame;
- ``hog0`` / ``hog1``: dlib's HOG detector on the whole frame, upsampled 0 or 1 times;
- ``cnn0``: dlib's MMOD CNN detector on the whole frame (on --cnn-frames frames only:
  it is slow).

Accuracy is checked against reference landmarks (dlib's 68 points found on the whole
frame with HOG upsampled once, every --every-th frame): a detection is correct when the
centre of its box lies inside the reference landmarks' bounding box and its width is
between half and twice theirs; for the tracker, also whether all 68 reference points
lie inside the crop (what ``--crop-face`` needs). Speed: frames per second of the
detection (and landmarks for the tracker), after the models are loaded, one process,
the median of --repeats runs, in CPU time of the process (dlib runs on one thread, so
on a shared, busy machine this is the speed an idle one gives; wall-clock figures
there only measure the load). Jitter: :func:`tpsmm.faces.tracking.box_jitter` of the
crop boxes before and after smoothing (RMS second difference over time, pixels).

With --animate, also times ``tpsmm animate --crop-face --paste-back`` on the whole
portrait video (the model: --checkpoint, else the reference weights, which have the
vox-256 architecture and so the speed of a trained vox model).

    python benchmarks/face_tracking.py [--animate] [--checkpoint vox.pth.tar]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from footage import (  # noqa: E402  (after the path is set)
    SAMPLE_DRIVING,
    portrait_frames,
    portrait_landmarks,
    portrait_photo,
    portrait_video,
)
from tpsmm.faces import FaceAnalyzer  # noqa: E402
from tpsmm.faces.crop import CropBox, crop_for_pose  # noqa: E402
from tpsmm.faces.tracking import (  # noqa: E402
    FaceFinder,
    box_jitter,
    fill_missing,
    track_faces,
)
from tpsmm.media import read_video  # noqa: E402


def correct(box: tuple[float, float, float, float], points: np.ndarray) -> bool:
    """Whether a detected box (l, t, r, b) matches the face of reference landmarks."""
    low, high = points.min(axis=0), points.max(axis=0)
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    width = box[2] - box[0]
    return (
        low[0] <= cx <= high[0]
        and low[1] <= cy <= high[1]
        and 0.5 <= width / (high[0] - low[0]) <= 2.0
    )


def inside(points: np.ndarray, box: np.ndarray) -> bool:
    crop = CropBox.from_array(box)
    return bool(
        (points[:, 0] >= crop.left).all()
        and (points[:, 0] <= crop.right).all()
        and (points[:, 1] >= crop.top).all()
        and (points[:, 1] <= crop.bottom).all()
    )


def detector_run(analyzer: FaceAnalyzer, frames: list[np.ndarray]) -> tuple[list, float]:
    """The largest box per frame (or None) and the seconds it took."""
    started = time.process_time()
    boxes = []
    for frame in frames:
        found = analyzer.detect(frame)
        boxes.append(
            (found[0].left, found[0].top, found[0].right, found[0].bottom) if found else None
        )
    return boxes, time.process_time() - started


def measure(name: str, frames: list[np.ndarray], references: dict[int, np.ndarray], args) -> None:
    print(f"\n## {name}: {len(frames)} frames, {frames[0].shape[1]}x{frames[0].shape[0]}")
    print("| method | found | correct (of references) | 68 points in crop | frames/s (CPU) |")
    print("|---|---|---|---|---|")
    finder = FaceFinder()
    times, track = [], None
    for _ in range(args.repeats):
        started = time.process_time()
        track = track_faces(frames, finder=finder)
        times.append(time.process_time() - started)
    assert track is not None
    poses = fill_missing(track.poses, track.segments)
    raw = np.stack([crop_for_pose(p).as_array() for p in poses])
    sigma = args.smoothing * 25
    smoothed = track.crop_boxes(sigma, inside=False)
    tracker_correct = sum(
        track.found[i] and inside(points, smoothed[i]) for i, points in references.items()
    )
    centre_ok = 0
    for i, points in references.items():
        if track.found[i]:
            pose = track.poses[i]
            low, high = points.min(axis=0), points.max(axis=0)
            centre_ok += bool(low[0] <= pose[0] <= high[0] and low[1] <= pose[1] <= high[1])
    print(
        f"| tracker | {int(track.found.sum())}/{len(frames)} | {centre_ok}/{len(references)} | "
        f"{tracker_correct}/{len(references)} | {len(frames) / statistics.median(times):.1f} |"
    )
    variants = [
        ("hog0", FaceAnalyzer(upsample=0), frames),
        ("hog1", FaceAnalyzer(upsample=1), frames),
    ]
    if args.cnn_frames:
        variants.append(
            ("cnn0", FaceAnalyzer(detector="cnn", upsample=0), frames[: args.cnn_frames])
        )
    for label, analyzer, subset in variants:
        if label == "hog1" and frames[0].shape[0] > 1000 and not args.slow_full_frame:
            print("| hog1 | (not run on 1080x1920: --slow-full-frame) | | | |")
            continue
        analyzer.load()
        run_times, boxes = [], []
        for _ in range(1 if label == "cnn0" else args.repeats):
            boxes, seconds = detector_run(analyzer, subset)
            run_times.append(seconds)
        found = sum(box is not None for box in boxes)
        right = sum(
            boxes[i] is not None and correct(boxes[i], points)
            for i, points in references.items()
            if i < len(subset)
        )
        count = sum(1 for i in references if i < len(subset))
        print(
            f"| {label} | {found}/{len(subset)} | {right}/{count} | - | "
            f"{len(subset) / statistics.median(run_times):.1f} |"
        )
    print(
        f"\nbox jitter (RMS second difference, px): raw {box_jitter(raw):.2f}, "
        f"smoothed (sigma {args.smoothing} s) {box_jitter(smoothed):.2f}; "
        f"median crop side {np.median(smoothed[:, 2]):.0f} px; "
        f"mean |smoothed - raw| {np.abs(smoothed - raw).mean():.2f} px"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=int, default=4, help="reference landmarks every N frames")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--smoothing", type=float, default=0.12, help="seconds")
    parser.add_argument("--cnn-frames", type=int, default=12)
    parser.add_argument("--portrait-frames", type=int, default=169)
    parser.add_argument("--slow-full-frame", action="store_true")
    parser.add_argument("--animate", action="store_true")
    parser.add_argument("--animate-only", action="store_true", help="only the timed animate run")
    parser.add_argument("--checkpoint")
    args = parser.parse_args()
    if args.animate_only:
        animate(args)
        return
    print(
        f"# face tracking, {platform.processor() or platform.machine()}, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    frames = list(read_video(SAMPLE_DRIVING))
    reference_analyzer = FaceAnalyzer(upsample=1)
    references = {}
    for index in range(0, len(frames), args.every):
        face = reference_analyzer.analyze(frames[index])
        if face is not None:
            references[index] = face.landmarks
    print(
        f"reference landmarks: {len(references)} of {len(range(0, len(frames), args.every))} frames"
    )
    measure("bundled video", frames, references, args)
    portrait = list(portrait_frames(args.portrait_frames))
    moved = {i: portrait_landmarks(p) for i, p in references.items() if i < len(portrait)}
    measure("portrait 1080x1920", portrait, moved, args)
    if args.animate:
        animate(args)


def animate(args) -> None:
    if args.checkpoint:
        checkpoint = args.checkpoint
    else:
        from reference_weights import reference_weights

        checkpoint = str(reference_weights()[0])
    with tempfile.TemporaryDirectory() as folder:
        photo = portrait_photo(Path(folder) / "photo.png")
        video = portrait_video(Path(folder) / "video.mp4")
        command = [sys.executable, "-m", "tpsmm.cli", "animate", "--source", str(photo),
                   "--driving", str(video), "--checkpoint", checkpoint, "--output",
                   str(Path(folder) / "out.mp4"), "--crop-face", "--paste-back",
                   "--device", "cpu"]  # fmt: skip
        started = time.perf_counter()
        load = os.getloadavg()[0]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        print(f"load average at the start {load:.1f}, at the end {os.getloadavg()[0]:.1f}")
        print(
            f"\n## tpsmm animate --crop-face --paste-back, 1080x1920, 169 frames\n"
            f"{' '.join(command[2:])}\nexit {result.returncode}, {seconds:.0f} s wall "
            f"({169 / seconds:.2f} frames/s including start-up, model and dlib loading)\n"
            f"{result.stdout.strip()}\n{result.stderr.strip()[-500:]}"
        )


if __name__ == "__main__":
    main()
