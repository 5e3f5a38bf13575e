"""``tpsmm motion``: save a driving video's motion (its keypoints, no pixels) to a file.

``tpsmm animate --driving motion.npz`` animates any source from it later, with the
frames animating from the video would give (see :mod:`tpsmm.animation.motion_file`).
"""

from __future__ import annotations

import argparse
from typing import Any

from tpsmm.animation.extract import extract_motion
from tpsmm.animation.motion_file import MOTION_SUFFIX, save_motion
from tpsmm.animation.output import refuse_overwriting_inputs
from tpsmm.cli.animate import (
    add_framing_arguments,
    add_model_arguments,
    add_run_arguments,
    checkpoint_path,
    finder_for,
    framing_options,
    load_model_from_args,
)
from tpsmm.errors import TPSMMError
from tpsmm.media import VideoReader


def register(subparsers: Any) -> None:
    """Add ``motion`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "motion",
        help="save a driving video's motion to a file for tpsmm animate",
        description=(
            "Find the keypoints of every frame of a driving video with a model's keypoint "
            "detector and store them, with the model's config, the frame rate, the face "
            "crops (--crop-face) and the audio, in a motion file (.npz). `tpsmm animate "
            "--driving motion.npz` animates from it without the video; the file holds no "
            "pixels of the driver. Use the batch size and dtype you will animate with to "
            "get exactly the frames animating from the video gives."
        ),
    )
    parser.add_argument(
        "--driving", required=True, metavar="VIDEO", help="the driving video (or a folder)"
    )
    parser.add_argument(
        "--out", "-o", required=True, metavar="MOTION", help=f"the motion file ({MOTION_SUFFIX})"
    )
    parser.add_argument(
        "--audio",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep the driving video's audio in the file (default: on)",
    )
    add_model_arguments(parser)
    add_run_arguments(add_framing_arguments(parser))
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm motion``; returns the exit status."""
    if not args.out.lower().endswith(MOTION_SUFFIX):
        raise TPSMMError(f"{args.out}: a motion file's name must end in {MOTION_SUFFIX}")
    options = framing_options(args)
    checkpoint = checkpoint_path(args)
    with VideoReader(args.driving, check=True) as reader:
        refuse_overwriting_inputs(args.out, None, reader.path)
    finder = finder_for(args)
    model = load_model_from_args(args, checkpoint)
    motion = extract_motion(model, args.driving, audio=args.audio, finder=finder, **options)
    path = save_motion(args.out, motion)
    if not args.quiet:
        parts = [
            f"wrote {path}: {motion.num_frames} frames of {motion.keypoints.shape[1]} "
            f"keypoints at {float(motion.frame_rate):g} fps",
            f"framing {motion.framing}",
            "with audio" if motion.audio is not None else "no audio",
        ]
        print(", ".join(parts))
    return 0
