"""Animation: keypoint normalisation modes and the streaming :class:`Animator`."""

from tpsmm.animation.animator import Animator, animate, frames_to_tensor, tensor_to_frames
from tpsmm.animation.keypoints import MODES, check_mode, movement_scale, relative_keypoints

__all__ = [
    "MODES",
    "Animator",
    "animate",
    "check_mode",
    "frames_to_tensor",
    "movement_scale",
    "relative_keypoints",
    "tensor_to_frames",
]
