"""Animation: keypoint normalisation modes (:mod:`.keypoints`), the :class:`Animator` over
frames in memory (:mod:`.animator`), the streaming video job (:mod:`.pipeline`), the
best reference frame for faces (:mod:`.best_frame`) and many pairs (:mod:`.pairs`)."""

from tpsmm.animation.animator import Animator, animate, frames_to_tensor, tensor_to_frames
from tpsmm.animation.best_frame import find_best_frame
from tpsmm.animation.keypoints import MODES, check_mode, movement_scale, relative_keypoints

__all__ = [
    "MODES",
    "Animator",
    "animate",
    "check_mode",
    "find_best_frame",
    "frames_to_tensor",
    "movement_scale",
    "relative_keypoints",
    "tensor_to_frames",
]
