"""Where a driver's expression is lost on its way to another face: keypoints, warp, result.

    python benchmarks/face_motion_chain.py --checkpoint C --landmark-videos D/test \\
        --videos V --sources S [--max-sources 4] [--exclude NAME ...] [--out chain.json]

Two measures of a face model (the figures of benchmarks/RESULTS.md, "Faces: eyes and lips
that open"), with the signals of :mod:`tpsmm.evaluation.face_signals`:

* **keypoints against landmarks** (``--landmark-videos``: clips with landmark files, as
  ``tpsmm prepare-videos --kind face`` and ``tpsmm dataset landmarks`` write them): per
  video, the keypoints' mean error to their targets (the landmark layout of
  :mod:`tpsmm.landmark_losses`) in pixels of the model's frame, the same error of their
  motion from the first frame, and for each pair of :data:`OPENING_PAIRS` (each eye's
  lids, the inner lips) Pearson's r of the keypoints' distance against the targets' and
  both standard deviations (pixels): whether the detector sees a blink, and how much of
  it;
* **the chain** (``--videos`` and ``--sources`` as for ``tpsmm benchmark-faces``):
  every source driven by every video in relative mode; r of the mouth and eye signals
  between the driving frames and, in turn, the driving keypoints (the inner lips' and
  the lids' distances), the source warped by the deformation alone, and the result; and
  r of pitch and roll for the warp and the result. Where the warp's r matches the
  result's, the inpainting draws what the motion gives it and the loss lies upstream.

Frames: at most 48 of each video at step 2, as ``tpsmm benchmark-faces`` by default.
Landmarks by dlib (the eval extra) at 256 pixels.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tpsmm.animation.animator import Animator
from tpsmm.checkpoint import load_model
from tpsmm.evaluation.compare import Evaluator
from tpsmm.evaluation.face_benchmark import Settings, analyse, analyse_driver, to_analysis
from tpsmm.evaluation.face_extractor import CropFaceKeypoints
from tpsmm.evaluation.face_inputs import list_videos, load_sources, read_driving
from tpsmm.evaluation.face_signals import correlation
from tpsmm.geometry import warp
from tpsmm.landmark_losses import OPENING_PAIRS, keypoint_landmark_matrix
from tpsmm.media.tensors import tensor_to_frames
from tpsmm.model import TPSMM

ANALYSIS_SIZE = 256
#: (name, keypoint index of the upper point, of the lower point) of the opening pairs
#: the chain reports (the outer lips' pair is left out: the inner lips' is the mouth).
PAIRS = tuple(
    (name, upper[0] * 5 + upper[1], lower[0] * 5 + lower[1])
    for name, (upper, lower) in zip(
        ("eye_left", "eye_right", "outer_lips", "inner_lips"), OPENING_PAIRS, strict=True
    )
    if name != "outer_lips"
)


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    """r over the frames where both have a value (None with fewer than 10)."""
    return correlation(a, b, 10).r


@torch.inference_mode()
def keypoints_against_landmarks(model: TPSMM, folder: Path) -> dict[str, Any]:
    """Per clip of ``folder``: the keypoints' error and their openings against the
    landmark targets' (see the module's docstring)."""
    matrix, slots = keypoint_landmark_matrix(model.num_tps)
    half = (model.frame_size - 1) / 2  # normalised units -> pixels
    report = {}
    for clip in sorted(p for p in folder.iterdir() if p.is_dir()):
        stored = np.load(f"{clip}.landmarks.npz")
        files = sorted(clip.glob("*.png"))
        kept = [i for i in range(len(files)) if stored["found"][i]]
        frames = np.stack([np.asarray(Image.open(files[i]).convert("RGB")) for i in kept])
        images = torch.from_numpy(frames).permute(0, 3, 1, 2).float() / 255
        keypoints = torch.cat(
            [model.keypoints(images[s : s + 32]) for s in range(0, len(kept), 32)]
        )
        targets = torch.einsum("ml,tlc->tmc", matrix, torch.from_numpy(stored["points"][kept]))
        chosen = keypoints.float()[:, slots]
        error = (chosen - targets).norm(dim=-1).mean() * half
        motion_error = ((chosen - chosen[:1]) - (targets - targets[:1])).norm(dim=-1).mean() * half
        row: dict[str, Any] = {
            "frames": len(kept),
            "error_px": float(error),
            "motion_error_px": float(motion_error),
        }
        for name, upper, lower in PAIRS:  # row r of the targets is keypoint r
            opening = (chosen[:, upper] - chosen[:, lower]).norm(dim=-1).numpy()
            truth = (targets[:, upper] - targets[:, lower]).norm(dim=-1).numpy()
            row[name] = {
                "r": pearson(truth.astype(np.float64), opening.astype(np.float64)),
                "std_px": float(opening.std() * half),
                "target_std_px": float(truth.std() * half),
            }
        report[clip.name] = row
    return report


@torch.inference_mode()
def chain(
    model: TPSMM, videos: Path, sources: Path, max_sources: int, exclude: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Per pair (source, video): r of the driver's signals against the keypoints', the
    warp's and the result's (see the module's docstring)."""
    settings = Settings()
    evaluator = Evaluator("face", extractor=CropFaceKeypoints(ANALYSIS_SIZE))
    size = model.frame_size
    portraits, _ = load_sources(sources, size, ANALYSIS_SIZE)
    portraits = [portrait for portrait in portraits if portrait.name not in exclude][:max_sources]
    drivers = [
        analyse_driver(
            model,
            read_driving(path, size, ANALYSIS_SIZE, max_frames=48, frame_step=2),
            evaluator,
            settings,
        )
        for path in list_videos(videos)
    ]
    rows = []
    for portrait in portraits:
        animator = Animator(model, portrait.frame, "relative")
        for driver in drivers:
            animator.reset()
            keypoints, warped, results = [], [], []
            for start in range(0, len(driver.video.frames), settings.batch_size):
                kp = animator.driving_keypoints(
                    driver.keypoints[start : start + settings.batch_size]
                )
                motion = model.motion_from_source(animator.state, kp, None)
                image = animator.state.image.expand(len(kp), -1, -1, -1)
                warped.append(tensor_to_frames(warp(image.float(), motion["deformation"].float())))
                results.append(tensor_to_frames(model.generate_from_motion(animator.state, motion)))
                keypoints.append(kp.float())
            kp_all = torch.cat(keypoints).numpy().astype(np.float64)
            unused = np.zeros(len(kp_all), dtype=bool)
            warp_track = analyse(
                evaluator, to_analysis(np.concatenate(warped), ANALYSIS_SIZE), unused
            )
            result_track = analyse(
                evaluator, to_analysis(np.concatenate(results), ANALYSIS_SIZE), unused
            )
            driving = driver.track.signals

            def opening(upper: int, lower: int, kp: np.ndarray = kp_all) -> np.ndarray:
                return np.linalg.norm(kp[:, upper] - kp[:, lower], axis=1)

            (_, left_up, left_down), (_, right_up, right_down), (_, lips_up, lips_down) = PAIRS
            eyes = opening(left_up, left_down) + opening(right_up, right_down)
            row = {"source": portrait.name, "video": driver.video.name}
            for column, name, keypoint_signal in (
                (0, "mouth", opening(lips_up, lips_down)),
                (1, "eyes", eyes),
            ):
                row[f"keypoints_{name}"] = pearson(driving[:, column], keypoint_signal)
            for column, name in ((0, "mouth"), (1, "eyes"), (3, "pitch"), (4, "roll")):
                row[f"warp_{name}"] = pearson(driving[:, column], warp_track.signals[:, column])
                row[f"result_{name}"] = pearson(driving[:, column], result_track.signals[:, column])
            rows.append(row)
    return rows


def mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [row[key] for row in rows if row[key] is not None]
    return float(np.mean(values)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="demo")
    parser.add_argument("--landmark-videos", type=Path, help="clips with landmark files")
    parser.add_argument("--videos", type=Path, help="driving videos, as benchmark-faces")
    parser.add_argument("--sources", type=Path, help="portraits, as benchmark-faces")
    parser.add_argument("--max-sources", type=int, default=4, help="the first N portraits")
    parser.add_argument("--exclude", nargs="*", default=[], help="portraits left out (names)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    model = load_model(args.checkpoint).eval()
    report: dict[str, Any] = {"checkpoint": args.checkpoint}
    if args.landmark_videos is not None:
        report["keypoints"] = keypoints_against_landmarks(model, args.landmark_videos)
        for name, row in report["keypoints"].items():
            pairs = " ".join(
                f"{pair} r {row[pair]['r']:.2f} std {row[pair]['std_px']:.2f}/"
                f"{row[pair]['target_std_px']:.2f}px"
                for pair, _, _ in PAIRS
            )
            errors = f"error {row['error_px']:.2f}px, motion {row['motion_error_px']:.2f}px"
            print(f"{name}: {errors}; {pairs}")
    if args.videos is not None and args.sources is not None:
        rows = chain(model, args.videos, args.sources, args.max_sources, tuple(args.exclude))
        report["chain"] = rows
        keys = [key for key in rows[0] if key not in ("source", "video")]
        for video in sorted({row["video"] for row in rows}):
            chosen = [row for row in rows if row["video"] == video]
            print(video, " ".join(f"{key} {mean(chosen, key):.2f}" for key in keys))
        print("mean", " ".join(f"{key} {mean(rows, key):.2f}" for key in keys))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
