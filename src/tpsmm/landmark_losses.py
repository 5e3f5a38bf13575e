"""Landmark supervision for faces (ours; an extension of the paper's unsupervised objective).

The paper learns its keypoints without labels, which on a small budget (a CPU, a few
thousand steps, a few dozen identities) does not find the mouth or the eyelids. For
faces, dlib's 68 landmarks of the training frames (:mod:`tpsmm.data.landmarks`) can
supervise two things:

- :func:`landmark_keypoint_loss`: the keypoints of the first TPS transforms are tied to
  points of the face (:data:`FACE_KEYPOINT_LAYOUT`: the jaw, brows, nose, each eye with
  its lids, the outer and inner lips, the head around them), so that each transform
  moves one part of the face and relative animation carries a driver's mouth opening or
  blink to the same part of another face. Transforms beyond the layout stay free.
- :func:`landmark_flow_loss`: sparse correspondences for the flow; the deformation at a
  driving landmark should point to the same landmark in the source.

Both are off by default (``loss_weights.landmark_keypoints`` and ``landmark_flow``) and
count only the training pairs whose frames carry landmarks (``dataset_params.landmarks``).
Coordinates are the model's normalised (x, y) in [-1, 1] (align_corners=True).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "FACE_KEYPOINT_LAYOUT",
    "keypoint_landmark_matrix",
    "landmark_flow_loss",
    "landmark_keypoint_loss",
]

#: A point of the face as a weighted sum of dlib landmarks (weights summing to 1; a
#: weight outside [0, 1] extrapolates, e.g. the forehead above the brows).
Anchor = Mapping[int, float]


def _mid(a: int, b: int) -> Anchor:
    return {a: 0.5, b: 0.5}


def _beyond(point: int, away_from: int, amount: float) -> Anchor:
    """The point ``amount`` times the distance (away_from -> point) past ``point``."""
    return {point: 1.0 + amount, away_from: -amount}


#: The face's parts, one per TPS transform, five points each (dlib's 0-based indices;
#: the subject's right eye, 36-41, lies on the image's left). Chosen so that each
#: transform's points span its part (a TPS of nearly collinear points is ill-posed) and
#: the parts that move on their own (lids, lips, jaw) have transforms of their own.
FACE_KEYPOINT_LAYOUT: tuple[tuple[Anchor, ...], ...] = (
    # jaw line
    ({0: 1.0}, {4: 1.0}, {8: 1.0}, {12: 1.0}, {16: 1.0}),
    # brows: their ends, with the nose's middle below them
    ({17: 1.0}, {21: 1.0}, {22: 1.0}, {26: 1.0}, {29: 1.0}),
    # nose
    ({27: 1.0}, {30: 1.0}, {31: 1.0}, {33: 1.0}, {35: 1.0}),
    # the eye on the image's left: corners, upper and lower lid, the brow above
    ({36: 1.0}, {39: 1.0}, _mid(37, 38), _mid(40, 41), {19: 1.0}),
    # the eye on the image's right
    ({42: 1.0}, {45: 1.0}, _mid(43, 44), _mid(46, 47), {24: 1.0}),
    # outer lips, with the nose's base
    ({48: 1.0}, {54: 1.0}, {51: 1.0}, {57: 1.0}, {33: 1.0}),
    # inner lips, with the chin (they move apart when the mouth opens)
    ({60: 1.0}, {64: 1.0}, {62: 1.0}, {66: 1.0}, {8: 1.0}),
    # the head around the face: forehead and temples above the brows, the cheeks' sides
    (
        {21: 0.8, 22: 0.8, 30: -0.6},
        _beyond(17, 31, 0.6),
        _beyond(26, 35, 0.6),
        _beyond(2, 30, 0.3),
        _beyond(14, 30, 0.3),
    ),
)


def keypoint_landmark_matrix(
    num_tps: int,
    layout: Sequence[Sequence[Anchor]] = FACE_KEYPOINT_LAYOUT,
    *,
    num_landmarks: int = 68,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """The linear map from landmarks to the supervised keypoints' targets.

    Args:
        num_tps: the model's TPS transforms K (5 keypoints each); the first
            ``min(K, len(layout))`` follow the layout, the rest stay free.
        layout: the parts (see :data:`FACE_KEYPOINT_LAYOUT`), 5 anchors each.

    Returns:
        ``(matrix, slots)``: ``matrix`` (M, num_landmarks) with ``targets = matrix @
        landmarks``, and ``slots`` (M,) int64, the keypoint index (in the model's K*5)
        each row supervises.
    """
    parts = list(layout)[:num_tps]
    rows, slots = [], []
    for part_index, part in enumerate(parts):
        if len(part) != 5:
            raise ValueError(f"part {part_index} of the layout has {len(part)} points, not 5")
        for point_index, anchor in enumerate(part):
            row = torch.zeros(num_landmarks, dtype=torch.float64)
            for landmark, weight in anchor.items():
                row[landmark] += weight
            if abs(float(row.sum()) - 1.0) > 1e-9:
                raise ValueError(
                    f"part {part_index} point {point_index}: weights sum to {row.sum()}"
                )
            rows.append(row)
            slots.append(part_index * 5 + point_index)
    matrix = torch.stack(rows).to(dtype) if rows else torch.zeros(0, num_landmarks, dtype=dtype)
    return matrix, torch.tensor(slots, dtype=torch.int64)


def landmark_keypoint_loss(
    keypoints: Tensor,
    landmarks: Tensor,
    found: Tensor,
    matrix: Tensor,
    slots: Tensor,
    weight: float,
) -> Tensor:
    """Keypoints on the face's parts: ``weight * mean |kp[slots] - matrix @ landmarks|``
    over the frames with landmarks, the supervised keypoints and both coordinates.

    Args:
        keypoints: (B, K*5, 2) the detector's keypoints.
        landmarks: (B, 68, 2) the frames' landmarks (any value where not found).
        found: (B,) bool, the frames that carry landmarks.
        matrix, slots: from :func:`keypoint_landmark_matrix`.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to ``keypoints``) where no frame has landmarks.
    """
    matrix = matrix.to(device=keypoints.device, dtype=keypoints.dtype)
    targets = torch.einsum("ml,blc->bmc", matrix, landmarks.to(keypoints.dtype))
    chosen = keypoints[:, slots.to(keypoints.device)]
    mask = found.to(keypoints.dtype).view(-1, 1, 1)
    total = ((chosen - targets).abs() * mask).sum()
    count = (mask.sum() * 2 * len(slots)).clamp(min=1.0)
    return weight * total / count


def landmark_flow_loss(
    deformation: Tensor,
    landmarks_source: Tensor,
    landmarks_driving: Tensor,
    found: Tensor,
    weight: float,
) -> Tensor:
    """Sparse correspondences for the flow: the deformation at each driving landmark
    should give the same landmark in the source:
    ``weight * mean |D(l_driving) - l_source|`` over the pairs whose two frames carry
    landmarks, the 68 points and both coordinates (``D`` sampled bilinearly,
    align_corners=True, as the inpainting network resizes it).

    Args:
        deformation: (B, h, w, 2) the predicted deformation (driving -> source).
        landmarks_source, landmarks_driving: (B, 68, 2).
        found: (B,) bool, the pairs whose two frames carry landmarks.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to ``deformation``) where no pair carries landmarks.
    """
    points = landmarks_driving.to(deformation.dtype).unsqueeze(2)  # (B, 68, 1, 2)
    sampled = F.grid_sample(
        deformation.permute(0, 3, 1, 2),
        points,
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )  # (B, 2, 68, 1)
    moved = sampled[..., 0].permute(0, 2, 1)  # (B, 68, 2)
    mask = found.to(deformation.dtype).view(-1, 1, 1)
    total = ((moved - landmarks_source.to(deformation.dtype)).abs() * mask).sum()
    count = (mask.sum() * 2 * landmarks_source.shape[1]).clamp(min=1.0)
    return weight * total / count
