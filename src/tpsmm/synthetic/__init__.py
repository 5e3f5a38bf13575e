"""Synthetic videos whose motion is known, to train and measure motion models.

Each video is a textured object deformed by smooth random motion (rotation, scale,
shift and an elastic thin-plate-spline deformation) over a textured background moved by
an affine camera motion; the object uncovers the background as it moves. Beside each
video, its ground truth: the dense deformation from every frame to frame 0 in the
model's convention, a validity mask and tracked points.

* :mod:`.textures` - procedural textures and the photo sets (``train``, ``heldout``);
* :mod:`.motion` - the random motion, as maps from frame t to frame 0;
* :mod:`.render` - one video and its :class:`GroundTruth`;
* :mod:`.dataset` - a dataset in the authors' layout (``tpsmm synth``) and its files.
"""

from tpsmm.synthetic.dataset import (
    FORMAT_VERSION,
    FrameMotion,
    SynthSummary,
    ground_truth_path,
    read_frame_motion,
    read_ground_truth,
    write_dataset,
)
from tpsmm.synthetic.motion import MotionParams
from tpsmm.synthetic.render import GroundTruth, RenderParams, SyntheticVideo, render_video
from tpsmm.synthetic.textures import IMAGE_SETS, photo_pool

__all__ = [
    "FORMAT_VERSION",
    "IMAGE_SETS",
    "FrameMotion",
    "GroundTruth",
    "MotionParams",
    "RenderParams",
    "SynthSummary",
    "SyntheticVideo",
    "ground_truth_path",
    "photo_pool",
    "read_frame_motion",
    "read_ground_truth",
    "render_video",
    "write_dataset",
]
