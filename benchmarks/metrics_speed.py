"""Speed of the metric detectors: frames per second of each step on this CPU.

    python benchmarks/metrics_speed.py                 # 256x256, 12 frames, 3 repeats
    python benchmarks/metrics_speed.py --size 384 --frames 20

Frames: the bundled driving video, fitted to --size. Steps timed one frame at a time:
dlib's HOG face detector (upsample 1, the face metrics' threshold; and upsample 0), the
68-point shape predictor in a given box, the 128-d embedding, one whole face analysis
(detection + landmarks + embedding, what the face metrics run on each side of a frame
pair), and MediaPipe Pose (the body metrics). Reports the median over --repeats runs of
frames per second (wall time, and per CPU second of the process, which is what an idle
machine gives single-threaded dlib), and the frame pairs per second of ``tpsmm
evaluate`` (two analyses per pair, one per side).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tpsmm.evaluation.keypoints import FACE_THRESHOLD, BodyKeypoints
from tpsmm.faces import FaceAnalyzer
from tpsmm.media import fit_frames, read_video

ASSETS = Path(__file__).resolve().parents[1] / "src" / "tpsmm" / "assets"


def frames_per_second(
    step: Callable[[np.ndarray], object], frames: np.ndarray, repeats: int
) -> tuple[float, float]:
    """Median frames per second of wall time and per second of this process's CPU time
    (the latter is what an idle machine gives a single-threaded step: on a shared machine
    wall time mostly measures the wait for a core)."""
    step(frames[0])  # warm-up: models loaded, caches filled
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for frame in frames:
            step(frame)
        wall.append(len(frames) / (time.perf_counter() - start))
        cpu.append(len(frames) / (time.process_time() - start_cpu))
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-body", action="store_true", help="skip MediaPipe")
    args = parser.parse_args()
    video = fit_frames(read_video(ASSETS / "driving.mp4"), args.size)
    frames = video[:: max(1, len(video) // args.frames)][: args.frames]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; {len(frames)} frames {args.size}x{args.size}")  # fmt: skip
    hog = FaceAnalyzer(threshold=FACE_THRESHOLD)
    hog0 = FaceAnalyzer(upsample=0, threshold=FACE_THRESHOLD)
    hog.load(embedding=True)
    box = hog.detect(frames[0])[0]
    points = hog.landmarks(frames[0], box)
    steps: dict[str, Callable[[np.ndarray], object]] = {
        "face detector (HOG, upsample 1)": hog.detect,
        "face detector (HOG, upsample 0)": hog0.detect,
        "68 landmarks (given box)": lambda f: hog.landmarks(f, box),
        "128-d embedding (given landmarks)": lambda f: hog.embedding(f, box, points),
        "face analysis (detect + landmarks + embedding)": lambda f: hog.analyze(f, embedding=True),
        "face analysis without embedding (AKD, MKR only)": hog.analyze,
    }
    if not args.no_body:
        body = BodyKeypoints()
        steps["body landmarks (MediaPipe Pose full)"] = body
    print("| step | frames/s (wall) | frames per CPU second | pairs per CPU second |")
    print("|---|---|---|---|")
    for name, step in steps.items():
        wall, cpu = frames_per_second(step, frames, args.repeats)
        pairs = f"{cpu / 2:.2f}" if "analysis" in name or "body" in name else ""
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {pairs} |", flush=True)


if __name__ == "__main__":
    main()
