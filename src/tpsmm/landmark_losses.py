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

- :func:`landmark_part_loss`: each part's transform moves its own part. The dense
  motion network blends the K transforms by its contribution maps; left to the other
  terms on a small budget, it gave the lips and the eyes to the transforms of the whole
  head and the jaw (measured on held-out faces: at the inner lips the head's or the jaw's
  transform had the largest share in every frame), so the lips' and the lids' own
  transforms, whose keypoints do follow the mouth and the eyes, moved nothing. This
  term asks for the part's transform at each of its landmarks in the driving frame.

A fourth term weights the picture rather than the motion:

- :func:`landmark_region_loss`: an L1 loss on the generated frame inside the regions
  that change shape as a face talks and blinks (the eyes and the mouth, around their
  landmarks: :func:`expression_regions`). They cover about 3% of a 128-pixel face
  crop, so in the whole frame's L1 an open mouth or a closed eye weighs next to
  nothing, and the generator learns to leave them as the source shows them.

All four are off by default (``loss_weights.landmark_keypoints``, ``landmark_flow``,
``landmark_parts`` and ``landmark_regions``) and count only the training pairs whose
frames carry landmarks (``dataset_params.landmarks``).
Coordinates are the model's normalised (x, y) in [-1, 1] (align_corners=True).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from tpsmm.geometry import coordinate_grid
from tpsmm.highres import sample_model_map

__all__ = [
    "EXPRESSION_LANDMARKS",
    "FACE_KEYPOINT_LAYOUT",
    "LANDMARK_PARTS",
    "OPENING_PAIRS",
    "expression_regions",
    "keypoint_landmark_matrix",
    "landmark_flow_loss",
    "landmark_keypoint_loss",
    "landmark_keypoint_motion_loss",
    "landmark_opening_loss",
    "landmark_part_loss",
    "landmark_part_targets",
    "landmark_region_loss",
    "opening_pair_rows",
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


#: The part of :data:`FACE_KEYPOINT_LAYOUT` each of dlib's 68 landmarks lies on (its
#: transform's index): the jaw line 0-16, the brows 17-26, the nose 27-35, the eyes
#: 36-41 and 42-47, the outer lips 48-59, the inner lips 60-67. The head's part (7) has
#: no landmarks of its own.
LANDMARK_PARTS: tuple[int, ...] = (
    (0,) * 17 + (1,) * 10 + (2,) * 9 + (3,) * 6 + (4,) * 6 + (5,) * 12 + (6,) * 8
)


def landmark_part_targets(num_tps: int) -> tuple[Tensor, Tensor]:
    """The landmarks whose part has a transform among the model's K, and the channel of
    that transform in the contribution maps (background first, so part ``p`` is channel
    ``p + 1``).

    Returns:
        ``(landmarks, channels)``, both (M,) int64.
    """
    chosen = [(index, part) for index, part in enumerate(LANDMARK_PARTS) if part < num_tps]
    landmarks = torch.tensor([index for index, _ in chosen], dtype=torch.int64)
    channels = torch.tensor([part + 1 for _, part in chosen], dtype=torch.int64)
    return landmarks, channels


#: The smallest share whose logarithm :func:`landmark_part_loss` takes: a transform
#: with no share at all costs -log(1e-6) = 13.8, not infinity.
PART_SHARE_FLOOR = 1e-6


def landmark_part_loss(
    contribution: Tensor,
    landmarks_driving: Tensor,
    found: Tensor,
    targets: tuple[Tensor, Tensor],
    weight: float,
) -> Tensor:
    """Each part's transform at its own landmarks: ``weight * mean -log c_p(l)`` over the
    frames with landmarks and the landmarks ``l`` of :func:`landmark_part_targets`,
    ``c_p`` the contribution map of the landmark's part sampled bilinearly at the driving
    frame's landmark (align_corners=True) and floored at :data:`PART_SHARE_FLOOR`. A
    cross-entropy: 0 when the part's transform has the whole share there, ``log(K+1)``
    for maps that share equally.

    Args:
        contribution: (B, K+1, h, w) the dense motion network's contribution maps (the
            softmax over the background and the K transforms), in driving coordinates.
        landmarks_driving: (B, 68, 2) the driving frames' landmarks.
        found: (B,) bool, the frames that carry landmarks.
        targets: from :func:`landmark_part_targets`.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to ``contribution``) where no frame has landmarks.
    """
    indices, channels = (t.to(contribution.device) for t in targets)
    points = landmarks_driving[:, indices].to(contribution.dtype).unsqueeze(2)  # (B, M, 1, 2)
    sampled = sample_model_map(contribution, points)[..., 0]  # (B, K+1, M)
    share = sampled.gather(1, channels.view(1, 1, -1).expand(len(sampled), 1, -1))[:, 0]
    mask = found.to(contribution.dtype).view(-1, 1)
    total = (-torch.log(share.clamp(min=PART_SHARE_FLOOR)) * mask).sum()
    count = (mask.sum() * len(indices)).clamp(min=1.0)
    return weight * total / count


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
        each row supervises: ``arange(M)``, the first parts' five points in order.
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


def _supervised_motion(
    kp_source: Tensor,
    kp_driving: Tensor,
    landmarks_source: Tensor,
    landmarks_driving: Tensor,
    matrix: Tensor,
    slots: Tensor,
) -> tuple[Tensor, Tensor]:
    """The supervised keypoints' motion ``(kp_d - kp_s)[slots]`` and its targets'
    ``matrix @ (L_d - L_s)``, both (B, M, 2) in the keypoints' dtype."""
    dtype = kp_driving.dtype
    matrix = matrix.to(device=kp_driving.device, dtype=dtype)
    targets = torch.einsum("ml,blc->bmc", matrix, (landmarks_driving - landmarks_source).to(dtype))
    index = slots.to(kp_driving.device)
    return kp_driving[:, index] - kp_source[:, index], targets


def landmark_keypoint_motion_loss(
    kp_source: Tensor,
    kp_driving: Tensor,
    landmarks_source: Tensor,
    landmarks_driving: Tensor,
    found: Tensor,
    matrix: Tensor,
    slots: Tensor,
    weight: float,
) -> Tensor:
    """The keypoints' motion between two frames against the landmarks':
    ``weight * mean |(kp_d - kp_s)[slots] - matrix @ (L_d - L_s)|`` over the pairs where
    both frames have landmarks, the supervised keypoints and both coordinates.

    Relative animation moves a source by the driving keypoints' motion, not by where they
    are; a detector whose error on a face is a constant offset larger than a blink (a few
    pixels at 128) gets, from :func:`landmark_keypoint_loss`'s L1, the same gradient in a
    frame with the eye open and one with it closed, so nothing asks it to see the blink.
    The difference of two frames of the same face cancels that offset.

    Args:
        kp_source, kp_driving: (B, K*5, 2) the detector's keypoints of both frames.
        landmarks_source, landmarks_driving: (B, 68, 2) their landmarks (any value where
            not found).
        found: (B,) bool, the pairs whose two frames carry landmarks.
        matrix, slots: from :func:`keypoint_landmark_matrix`.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to the keypoints) where no pair has landmarks.
    """
    moved, targets = _supervised_motion(
        kp_source, kp_driving, landmarks_source, landmarks_driving, matrix, slots
    )
    mask = found.to(moved.dtype).view(-1, 1, 1)
    total = ((moved - targets).abs() * mask).sum()
    count = (mask.sum() * 2 * len(slots)).clamp(min=1.0)
    return weight * total / count


#: The keypoints of :data:`FACE_KEYPOINT_LAYOUT` whose distance opens and closes (upper,
#: lower), as (part, point) pairs: each eye's lids, the outer lips' middles, the inner
#: lips' middles.
OPENING_PAIRS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((3, 2), (3, 3)),
    ((4, 2), (4, 3)),
    ((5, 2), (5, 3)),
    ((6, 2), (6, 3)),
)


def opening_pair_rows(num_rows: int) -> list[tuple[int, int]]:
    """The (upper, lower) rows of :data:`OPENING_PAIRS` among the ``num_rows`` rows of
    :func:`keypoint_landmark_matrix` (row ``r`` supervises keypoint ``r``), the pairs
    beyond them left out. Derived from the row count alone, so that no slot tensor has to
    be read back from its device at each training step."""
    rows = [(upper[0] * 5 + upper[1], lower[0] * 5 + lower[1]) for upper, lower in OPENING_PAIRS]
    return [(upper, lower) for upper, lower in rows if max(upper, lower) < num_rows]


def landmark_opening_loss(
    kp_source: Tensor,
    kp_driving: Tensor,
    landmarks_source: Tensor,
    landmarks_driving: Tensor,
    found: Tensor,
    matrix: Tensor,
    slots: Tensor,
    weight: float,
) -> Tensor:
    """How the eyes and the mouth open between two frames: for each pair of
    :data:`OPENING_PAIRS`, the change of the vector from its lower to its upper keypoint
    against the same change of their landmark targets, ``weight * mean |(g_d - g_s) -
    (t_d - t_s)|`` (``g = kp[upper] - kp[lower]``, ``t`` the same of ``matrix @
    landmarks``) over the pairs of frames with landmarks, the pairs of points and both
    coordinates.

    A blink moves each lid about a pixel at 128: among the 40 supervised keypoints of
    :func:`landmark_keypoint_motion_loss` it is a small share of the error, and a detector
    that answers it with a fraction of its amplitude loses little there. This term asks
    for that amplitude alone (a head's motion moves both points of a pair alike and
    cancels).

    Args, Returns: as :func:`landmark_keypoint_motion_loss`; pairs whose points the
    model's transforms do not reach (fewer than 7 TPS) are left out, and without any the
    term is 0, connected to the keypoints.
    """
    pairs = opening_pair_rows(len(slots))
    if not pairs:
        return kp_driving.sum() * 0.0
    upper_rows = torch.tensor([pair[0] for pair in pairs], device=kp_driving.device)
    lower_rows = torch.tensor([pair[1] for pair in pairs], device=kp_driving.device)
    moved, targets = _supervised_motion(
        kp_source, kp_driving, landmarks_source, landmarks_driving, matrix, slots
    )
    error = (moved[:, upper_rows] - moved[:, lower_rows]) - (
        targets[:, upper_rows] - targets[:, lower_rows]
    )
    mask = found.to(moved.dtype).view(-1, 1, 1)
    count = (mask.sum() * 2 * len(pairs)).clamp(min=1.0)
    return weight * (error.abs() * mask).sum() / count


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
    sampled = sample_model_map(deformation.permute(0, 3, 1, 2), points)  # (B, 2, 68, 1)
    moved = sampled[..., 0].permute(0, 2, 1)  # (B, 68, 2)
    mask = found.to(deformation.dtype).view(-1, 1, 1)
    total = ((moved - landmarks_source.to(deformation.dtype)).abs() * mask).sum()
    count = (mask.sum() * 2 * landmarks_source.shape[1]).clamp(min=1.0)
    return weight * total / count


#: dlib's landmarks of the parts whose shape changes as a face talks and blinks: the
#: eyes (36-47) and the mouth (48-67), outer and inner lips.
EXPRESSION_LANDMARKS: tuple[int, ...] = tuple(range(36, 68))
#: The regions' Gaussian radius (sigma) as a share of the distance between the eyes'
#: centres: a quarter reaches about the eyelids' and the lips' skin around the points.
REGION_RADIUS = 0.25


def expression_regions(landmarks: Tensor, height: int, width: int) -> Tensor:
    """Where the eyes and the mouth are, as soft masks: at each pixel the largest
    ``exp(-d^2 / (2 sigma^2))`` over the :data:`EXPRESSION_LANDMARKS`, ``d`` the
    distance to the landmark and ``sigma`` :data:`REGION_RADIUS` times the distance
    between the eyes' centres (so the regions scale with the face).

    Args:
        landmarks: (B, 68, 2) normalised (x, y) in [-1, 1] (align_corners=True).
        height, width: the mask's size.

    Returns:
        (B, 1, height, width) in [0, 1]; 1 on each landmark.
    """
    points = landmarks[:, list(EXPRESSION_LANDMARKS)]
    eye_left = landmarks[:, 36:42].mean(dim=1)
    eye_right = landmarks[:, 42:48].mean(dim=1)
    sigma = REGION_RADIUS * (eye_right - eye_left).norm(dim=-1).clamp(min=1e-3)  # (B,)
    grid = coordinate_grid(height, width, dtype=landmarks.dtype, device=landmarks.device)
    offsets = grid.view(1, 1, height, width, 2) - points.view(*points.shape[:2], 1, 1, 2)
    squared = offsets.square().sum(dim=-1)  # (B, P, H, W)
    blobs = torch.exp(-squared / (2 * sigma.square().view(-1, 1, 1, 1)))
    return blobs.amax(dim=1, keepdim=True)


def landmark_region_loss(
    prediction: Tensor,
    real: Tensor,
    landmarks: Tensor,
    found: Tensor,
    weight: float,
) -> Tensor:
    """The generated frame's error where the eyes and the mouth are:
    ``weight * sum M |prediction - real| / (3 sum M)``, ``M`` the driving frame's
    :func:`expression_regions` (no gradient through it) over the frames with landmarks.

    Args:
        prediction: (B, 3, H, W) the generated frame in [0, 1].
        real: (B, 3, H, W) the driving frame it reconstructs.
        landmarks: (B, 68, 2) the driving frame's landmarks (any value where not found).
        found: (B,) bool, the frames that carry landmarks.
        weight: the loss weight.

    Returns:
        scalar, the regions' mean absolute error times ``weight``; 0 (connected to
        ``prediction``) where no frame has landmarks.
    """
    height, width = prediction.shape[-2:]
    with torch.no_grad():  # float32 at least: a bfloat16 grid would shift the regions
        dtype = torch.promote_types(prediction.dtype, torch.float32)
        mask = expression_regions(landmarks.to(dtype), height, width)
        mask = (mask * found.to(dtype).view(-1, 1, 1, 1)).to(prediction.dtype)
    total = ((prediction - real.to(prediction.dtype)).abs() * mask).sum()
    count = (3 * mask.sum()).clamp(min=1.0)
    return weight * total / count
