"""``tpsmm animate``: animate a still image by a driving video, or many pairs from a CSV.

A thin layer over :func:`tpsmm.animation.pipeline.animate_video`: it checks the
arguments and inputs, loads the model, runs the streaming job and prints one line about
the result. Every problem a user can cause ends with one line on stderr and exit status 2
(via the dispatcher), before any output is created.
"""

from __future__ import annotations

import argparse
import os
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

from tpsmm.animation.animator import load_animation_model
from tpsmm.animation.backend import AnimationBackend
from tpsmm.animation.driving import check_positive
from tpsmm.animation.keypoints import MODES, check_mode, check_motion_scale
from tpsmm.animation.motion_file import is_motion_file, load_motion
from tpsmm.animation.output import AnimationSummary, check_inputs
from tpsmm.animation.pipeline import animate_video
from tpsmm.animation.resolution import AUTO_LIMIT, check_resolution
from tpsmm.cli.options import add_device_argument, add_dtype_argument
from tpsmm.errors import TPSMMError
from tpsmm.faces.tracking import SMOOTHING_SECONDS
from tpsmm.files import check_writable_folder
from tpsmm.media import (
    DEFAULT_FIT_MODE,
    DEFAULT_FOLDER_FPS,
    FIT_MODES,
    check_fit_mode,
    to_frame_rate,
)
from tpsmm.model import TPSMM
from tpsmm.runtime import resolve_device, resolve_precision, torchrun_env

#: Environment variable naming a default checkpoint.
CHECKPOINT_ENV = "TPSMM_CHECKPOINT"
#: The model used when neither --checkpoint nor $TPSMM_CHECKPOINT names one.
DEFAULT_CHECKPOINT = "demo"
#: Where users find the published weights.
CHECKPOINT_SOURCE = (
    "the authors' pre-trained models "
    "(https://github.com/yoyo-nb/Thin-Plate-Spline-Motion-Model#pre-trained-models)"
)

MODE_HELP = (
    "how the driving motion reaches the source: relative (default) moves the source's "
    "keypoints by the driving video's motion since its first frame, scaled to the source "
    "(best for a face of another person); standard uses the driving keypoints as they are "
    "(the source takes on the driving face's shape); avd transfers the pose with the AVD "
    "network (needs a checkpoint that has one)"
)
FIT_HELP = (
    "how frames that are not square reach the model's square size: crop (default) cuts the "
    "largest centred square, so faces keep their proportions and fill the frame as in the "
    "square videos the model was trained on; pad keeps the whole frame and adds black bars, "
    "which the model never saw in training; stretch (what the authors' demo does) squeezes "
    "the frame and distorts faces"
)
CROP_FACE_HELP = (
    "faces: cut the source around its face and each driving frame around the face "
    "followed through the video (dlib, from the eval extra), as square crops with the "
    "margin of the authors' training crops, smoothed over time; driving frames without "
    "a face keep the last crop"
)
PASTE_BACK_HELP = (
    "blend the animated square back into the full-resolution source image (feathered "
    "edge, colours matched at the seam): the output has the source image's size (made "
    "even for H.264 by repeating the last row or column); with --crop-face the face is "
    "animated inside the whole photo"
)
RESOLUTION_HELP = (
    "the side in pixels of the animated square in the output: above the model's size, "
    "each frame is rendered at N x N from the source image at its own resolution, moved "
    "by the model's motion, with the model's own pixels where the source does not show "
    "what is needed (the model still runs at its size; the result is as sharp as the "
    "source, not sharper); below it, the model's frames are downsampled. auto: the "
    f"square's side in the source image's pixels, at most {AUTO_LIMIT} (the default with "
    "--crop-face --paste-back); model: the model's size (the default otherwise)"
)
EPILOG = """\
output types (by the --output name):
  .mp4 .mov .m4v .mkv  H.264, each frame at its driving frame's time (variable frame
                       rates kept), with the driving video's audio in sync
  .gif                 an animated GIF with the same timing (in 1/100 s)
  a folder             PNG frames 000000.png, 000001.png, ...

real photos and phone videos:
  tpsmm animate --source photo.jpg --driving phone.mp4 --crop-face --paste-back -o out.mp4
  --crop-face finds the face in both and crops squares around it; --paste-back puts the
  animated face back into the full photo.

motion files:
  tpsmm motion --driving talk.mp4 --checkpoint vox.pth.tar --out talk.npz
  tpsmm animate --source face.png --driving talk.npz --checkpoint vox.pth.tar -o out.mp4
  The keypoints of the video (no pixels) are stored once, with its audio, and animate any
  source later; --motion-scale works on them too.

many pairs:
  tpsmm animate --pairs pairs.csv --out-dir DIR --checkpoint vox.pth.tar
  The CSV has the columns source,driving[,output][,mode] (a header row is optional);
  relative sources and driving videos are found from the CSV's folder, relative outputs
  in DIR (default name <source>_<driving>.mp4). Launched with torchrun, each process
  (RANK of WORLD_SIZE) takes every WORLD_SIZE-th row from the RANK-th. A failing pair is
  reported and the others go on; the exit status is 1 when any pair failed. --fps
  applies to the rows whose driving video is a folder of frames.

stopping: Ctrl-C (SIGINT) or SIGTERM ends the job with one line and exit status 130 or
  143; the output being written is removed, the pairs already finished are kept.
"""


def register(subparsers: Any) -> None:
    """Add ``animate`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "animate",
        help="animate a still image by a driving video",
        description=(
            "Animate a source image by a driving video, streaming: frames are decoded, "
            "brought to the model's square size, animated in batches and encoded, so "
            "videos of any length run in constant memory."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    single = parser.add_argument_group("one animation")
    single.add_argument(
        "--source",
        metavar="IMAGE",
        help="the still image to animate (any format Pillow reads; transparent parts are "
        "put on white)",
    )
    single.add_argument(
        "--driving",
        metavar="VIDEO|MOTION",
        help="the driving video (any FFmpeg format, or a folder of frame images), or a "
        "motion file made by `tpsmm motion` (.npz)",
    )
    single.add_argument("--output", "-o", metavar="OUT", help="the result (see below)")
    many = parser.add_argument_group("many animations")
    many.add_argument("--pairs", metavar="CSV", help="a CSV of source,driving[,output][,mode]")
    many.add_argument("--out-dir", metavar="DIR", help="where the results of --pairs go")
    add_model_arguments(parser)
    add_job_arguments(parser)
    parser.add_argument(
        "--fps",
        type=frame_rate_argument,
        metavar="RATE",
        help="the frame rate of a driving folder of frame images, e.g. 30 or 30000/1001 "
        f"(default {DEFAULT_FOLDER_FPS}); a video file keeps its own timestamps",
    )
    parser.set_defaults(func=run)


def frame_rate_argument(text: str) -> Fraction:
    """argparse type: a positive frame rate, ``30``, ``29.97`` (NTSC) or ``30000/1001``."""
    try:
        rate = Fraction(text) if "/" in text else to_frame_rate(float(text))
    except (ValueError, ZeroDivisionError):
        rate = Fraction(0)
    if rate <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive frame rate, got {text!r}")
    return rate


#: The --backend choices: what computes the frames.
BACKENDS = ("torch", "onnxruntime")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--checkpoint, --config, --backend, --onnx, --device, --dtype."""
    group = parser.add_argument_group("model")
    group.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="the weights: the authors' .pth.tar (vox, taichi, ted, mgif from "
        f"{CHECKPOINT_SOURCE}), a tpsmm checkpoint, or {DEFAULT_CHECKPOINT} for the small model "
        f"bundled with tpsmm (default: ${CHECKPOINT_ENV}, else {DEFAULT_CHECKPOINT})",
    )
    group.add_argument(
        "--config",
        metavar="NAME|YAML",
        help="a preset (vox-256, taichi-256, ted-384, mgif-256) or YAML file; default: the "
        "checkpoint's own (the vox-256 architecture for the authors' files)",
    )
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        help="what computes the frames: torch (default) or onnxruntime (the graphs of "
        "`tpsmm export` in --onnx DIR, float32; needs the onnx extra: pip install "
        "'tpsmm[onnx]'; not with motion files or --motion-scale)",
    )
    group.add_argument(
        "--onnx",
        metavar="DIR",
        help="an ONNX export folder (from `tpsmm export`) for the onnxruntime backend; "
        "implies --backend onnxruntime",
    )
    add_device_argument(group)
    add_dtype_argument(group)


def add_framing_arguments(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """--fit, --crop-face, --smoothing (how frames reach the model's size); returns the
    group for more options."""
    group = parser.add_argument_group("animation")
    group.add_argument(
        "--fit", default=DEFAULT_FIT_MODE, metavar="|".join(FIT_MODES), help=FIT_HELP
    )
    group.add_argument("--crop-face", action="store_true", help=CROP_FACE_HELP)
    group.add_argument(
        "--smoothing",
        type=float,
        default=SMOOTHING_SECONDS,
        metavar="SECONDS",
        help="with --crop-face: how much the face crops are smoothed over time (Gaussian "
        f"sigma, default {SMOOTHING_SECONDS} s; 0: none)",
    )
    return group


def add_job_arguments(parser: argparse.ArgumentParser, *, side_by_side: bool = False) -> None:
    """--mode, --fit, --crop-face, --paste-back, --motion-scale, --side-by-side,
    --find-best-frame, --batch-size, --max-frames, --quiet."""
    group = add_framing_arguments(parser)
    group.add_argument("--mode", default="relative", metavar="|".join(MODES), help=MODE_HELP)
    group.add_argument("--paste-back", action="store_true", help=PASTE_BACK_HELP)
    group.add_argument("--resolution", metavar="N|auto|model", help=RESOLUTION_HELP)
    group.add_argument(
        "--motion-scale",
        type=float,
        default=1.0,
        metavar="S",
        help="scale the driving motion: 0 still, 1 as driven (default), above 1 "
        "exaggerated (in every mode, relative to the reference frame)",
    )
    group.add_argument(
        "--side-by-side",
        action=argparse.BooleanOptionalAction,
        default=side_by_side,
        help="write source | driving | result, each at the output's size (the model's, or "
        "--resolution; at the source image's height with --paste-back) (default: "
        f"{'on' if side_by_side else 'off'})",
    )
    group.add_argument(
        "--background",
        action="store_true",
        help="move the background by the background predictor's estimate of the camera "
        "motion between the source and each driving frame (off by default, as in the "
        "authors' animation; needs a model with a background predictor)",
    )
    group.add_argument(
        "--find-best-frame",
        action="store_true",
        help="faces: use the driving frame whose face is most like the source's as the "
        "reference of the motion (reads the video twice; needs the eval extra: "
        "pip install 'tpsmm[eval]')",
    )
    add_run_arguments(group)


def add_run_arguments(group: argparse._ArgumentGroup) -> None:
    """--batch-size, --max-frames, --quiet."""
    group.add_argument(
        "--batch-size",
        type=int,
        metavar="N",
        help="driving frames per forward pass (default: 1 on a CPU, 8 on a GPU)",
    )
    group.add_argument(
        "--max-frames", type=int, metavar="N", help="use only the first N driving frames"
    )
    group.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar and no summary line"
    )


def job_options(args: argparse.Namespace) -> dict[str, Any]:
    """The keyword arguments of :func:`animate_video` from ``args``, checked."""
    check_mode(args.mode)
    check_motion_scale(args.motion_scale)
    options = framing_options(args)
    return {
        **options,
        "mode": args.mode,
        "side_by_side": args.side_by_side,
        "find_best_frame": args.find_best_frame,
        "paste_back": args.paste_back,
        "resolution": check_resolution(args.resolution),
        "motion_scale": args.motion_scale,
        "background": args.background,
        "folder_fps": getattr(args, "fps", None),
    }


def framing_options(args: argparse.Namespace) -> dict[str, Any]:
    """The framing and run options shared by ``animate`` and ``motion``, checked."""
    check_fit_mode(args.fit)
    check_positive(args.batch_size, "--batch-size")
    check_positive(args.max_frames, "--max-frames")
    if not args.smoothing >= 0:
        raise TPSMMError(f"--smoothing must be a number of seconds >= 0, got {args.smoothing}")
    backend_name(args)
    return {
        "fit": args.fit,
        "crop_face": args.crop_face,
        "smoothing": args.smoothing,
        "batch_size": args.batch_size,
        "max_frames": args.max_frames,
        "progress": not args.quiet and sys.stderr.isatty(),
    }


def backend_name(args: argparse.Namespace) -> str:
    """``torch`` or ``onnxruntime`` from --backend and --onnx (commands without them:
    torch), with the options checked against it (one-line errors): for torch, --device
    and --dtype by :mod:`tpsmm.runtime`'s policy."""
    onnx = getattr(args, "onnx", None)
    backend = getattr(args, "backend", None) or ("onnxruntime" if onnx else "torch")
    if backend == "torch":
        if onnx:
            raise TPSMMError("--onnx goes with --backend onnxruntime")
        resolve_precision(args.dtype, resolve_device(args.device))
        return backend
    if not onnx:
        raise TPSMMError("--backend onnxruntime needs --onnx DIR (made by `tpsmm export`)")
    if args.checkpoint or args.config:
        raise TPSMMError(
            "--backend onnxruntime takes the model from --onnx DIR; drop --checkpoint/--config"
        )
    if args.dtype not in ("auto", "float32"):
        raise TPSMMError("--backend onnxruntime runs the exported float32 graphs; drop --dtype")
    return backend


def given_checkpoint(args: argparse.Namespace) -> str | None:
    """--checkpoint, else $TPSMM_CHECKPOINT, else None (the user gave none)."""
    return args.checkpoint or os.environ.get(CHECKPOINT_ENV)


def checkpoint_path(args: argparse.Namespace) -> str:
    """:func:`given_checkpoint`, else the bundled demo model (which
    :func:`say_if_bundled` announces when it is loaded)."""
    return given_checkpoint(args) or DEFAULT_CHECKPOINT


def say_if_bundled(args: argparse.Namespace, checkpoint: str) -> None:
    """One stderr line (unless --quiet) when ``checkpoint`` is the bundled demo model
    because none was given; called just before the model loads, after the cheap checks,
    so that a refused input or output gets its error line alone."""
    if given_checkpoint(args) or checkpoint != DEFAULT_CHECKPOINT or getattr(args, "quiet", False):
        return
    print(
        f"using the bundled {DEFAULT_CHECKPOINT} model (128x128, faces, trained on a small "
        f"set); for the authors' quality give --checkpoint vox.pth.tar from "
        f"{CHECKPOINT_SOURCE}",
        file=sys.stderr,
    )


def model_source(args: argparse.Namespace) -> str:
    """What the model is loaded from: the checkpoint (torch), or the --onnx folder."""
    return args.onnx if backend_name(args) == "onnxruntime" else checkpoint_path(args)


def load_model_from_args(args: argparse.Namespace, checkpoint: str) -> TPSMM | AnimationBackend:
    """The model of --checkpoint/--config on --device in --dtype (under torchrun,
    ``cuda`` is this process's GPU), or the onnxruntime backend of the --onnx folder
    ``checkpoint``."""
    if backend_name(args) == "onnxruntime":
        from tpsmm.export.runtime import load_onnx

        return load_onnx(checkpoint, device=args.device)
    say_if_bundled(args, checkpoint)
    return load_animation_model(checkpoint, args.config, device=args.device, dtype=args.dtype)


def finder_for(args: argparse.Namespace) -> Any:
    """The face finder when --crop-face is on (fails early without the eval extra),
    else None."""
    if not args.crop_face:
        return None
    from tpsmm.faces.tracking import default_finder

    return default_finder()


def landmarks_for(args: argparse.Namespace) -> Any:
    """The face landmark detector when --find-best-frame is on (fails early without the
    eval extra), else None."""
    if not args.find_best_frame:
        return None
    from tpsmm.animation.best_frame import default_landmarks

    return default_landmarks()


def animate_one(
    args: argparse.Namespace,
    options: dict[str, Any],
    source: str | os.PathLike,
    driving: str | os.PathLike,
    output: str | os.PathLike,
    checkpoint: str,
) -> AnimationSummary:
    """Check the inputs (cheap checks first), load the model, run the job.

    ``options`` are :func:`job_options`; ``checkpoint`` is :func:`model_source`.
    """
    check_inputs(source, driving, output)
    landmarks = landmarks_for(args)
    finder = finder_for(args)
    model = load_model_from_args(args, checkpoint)
    warn_if_other_model(driving, model)
    return animate_video(
        model, source, driving, output, landmarks=landmarks, finder=finder, **options
    )


def warn_if_other_model(driving: str | os.PathLike, model: TPSMM | AnimationBackend) -> None:
    """For a motion file: refuse a model of another shape, warn on other weights (the
    onnxruntime backend refuses motion files when it animates)."""
    if not is_motion_file(driving) or not isinstance(model, TPSMM):
        return
    if not load_motion(driving).check_model(model, str(driving)):
        print(
            f"tpsmm animate: warning: {driving} was made with other keypoint detector "
            "weights than this checkpoint's; the motion will not be the driving video's",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm animate``; returns the exit status."""
    if args.pairs is not None:
        return run_pairs(args)
    if args.out_dir is not None:
        raise TPSMMError("--out-dir goes with --pairs; for one animation give --output")
    given = {"--source": args.source, "--driving": args.driving, "--output": args.output}
    missing = [flag for flag, value in given.items() if not value]
    if missing:
        raise TPSMMError(
            f"missing {', '.join(missing)}: give --source IMAGE --driving VIDEO --output OUT, "
            "or --pairs CSV --out-dir DIR"
        )
    options = job_options(args)
    if args.fps is not None and not Path(args.driving).is_dir():
        raise TPSMMError(
            f"--fps sets the frame rate of a folder of frames; {args.driving} is a video "
            "file, whose frames keep their own timestamps"
        )
    checkpoint = model_source(args)
    summary = animate_one(args, options, args.source, args.driving, args.output, checkpoint)
    if not getattr(args, "quiet", False):
        print(summary.describe())
    return 0


def run_pairs(args: argparse.Namespace) -> int:
    """``--pairs CSV --out-dir DIR``: this process's share of the pairs; exit status 1
    when any pair failed."""
    from tpsmm.animation.pairs import animate_pairs, read_pairs, shard

    single = {"--source": args.source, "--driving": args.driving, "--output": args.output}
    given = [flag for flag, value in single.items() if value]
    if given:
        raise TPSMMError(f"--pairs takes the files from the CSV; drop {', '.join(given)}")
    if not args.out_dir:
        raise TPSMMError("--pairs needs --out-dir DIR for the results")
    options = job_options(args)
    checkpoint = model_source(args)
    env = torchrun_env()
    rank, world_size = env.rank, env.world_size
    pairs = shard(read_pairs(args.pairs, args.out_dir), rank, world_size)
    check_writable_folder(args.out_dir)
    landmarks = landmarks_for(args)
    finder = finder_for(args)
    model = load_model_from_args(args, checkpoint)
    Path(args.out_dir).mkdir(parents=True, exist_ok=True)
    prefix = f"[rank {rank} of {world_size}] " if world_size > 1 else ""

    finished: list[Any] = []

    def report(result: Any) -> None:
        finished.append(result)
        if result.ok:
            if not args.quiet:
                print(f"{prefix}{result.pair.describe()}: {result.summary.describe()}", flush=True)
        else:
            print(
                f"tpsmm animate: {prefix}{result.pair.describe()}: error: {result.error}",
                file=sys.stderr,
                flush=True,
            )

    try:
        results = animate_pairs(
            model, pairs, landmarks=landmarks, finder=finder, on_result=report, **options
        )
    except KeyboardInterrupt as interrupt:  # Ctrl-C or SIGTERM: the finished outputs stay
        done = sum(result.ok for result in finished)
        kept = ", their outputs kept" if done else ""
        interrupt.detail = f"{prefix}{done} of {len(pairs)} pairs done{kept}"  # type: ignore[attr-defined]
        raise
    failed = sum(not result.ok for result in results)
    line = f"{prefix}{len(results) - failed} of {len(results)} pairs done"
    if failed:
        print(f"tpsmm animate: {line}, {failed} failed", file=sys.stderr)
        return 1
    if not getattr(args, "quiet", False):
        print(line)
    return 0
