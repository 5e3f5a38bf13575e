"""Animation: keypoint normalisation modes (:mod:`.keypoints`), the :class:`Animator` over
frames in memory and the PyTorch backend (:mod:`.animator`; the backend seam:
:mod:`.backend`), the streaming video job (:mod:`.pipeline`: :class:`VideoAnimator`)
with its source image (:mod:`.source`), driving input (:mod:`.driving`), output frames
(:mod:`.compose`), output and summary (:mod:`.output`) and progress (:mod:`.progress`);
motion files (:mod:`.motion_file`, extracted by :mod:`.extract`), paste-back
(:mod:`.paste`), the best reference frame for faces (:mod:`.best_frame`) and many pairs
(:mod:`.pairs`). The pixel conversions ``frames_to_tensor`` and ``tensor_to_frames`` are
:mod:`tpsmm.media.tensors`'."""

from tpsmm.animation.animator import Animator, animate
from tpsmm.animation.best_frame import find_best_frame
from tpsmm.animation.keypoints import MODES, check_mode, movement_scale, relative_keypoints
from tpsmm.media.tensors import frames_to_tensor, tensor_to_frames

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
