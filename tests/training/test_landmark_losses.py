"""The landmark losses (tpsmm.landmark_losses): the layout's map, closed-form values and
float64 gradchecks, and the objective's terms with and without landmarks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tpsmm import geometry
from tpsmm.data.landmarks import MIRRORED_LANDMARKS
from tpsmm.landmark_losses import (
    FACE_KEYPOINT_LAYOUT,
    LANDMARK_PARTS,
    OPENING_PAIRS,
    PART_SHARE_FLOOR,
    REGION_RADIUS,
    expression_regions,
    keypoint_landmark_matrix,
    landmark_flow_loss,
    landmark_keypoint_loss,
    landmark_keypoint_motion_loss,
    landmark_opening_loss,
    landmark_part_loss,
    landmark_part_targets,
    landmark_region_loss,
)


def _landmarks(batch: int, seed: int, dtype=torch.float64) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(batch, 68, 2, generator=generator, dtype=dtype) * 1.6 - 0.8).to(dtype)


def test_matrix_rows_sum_to_one_and_cover_the_first_transforms():
    matrix, slots = keypoint_landmark_matrix(10)
    parts = min(10, len(FACE_KEYPOINT_LAYOUT))
    assert matrix.shape == (5 * parts, 68)
    assert torch.equal(slots, torch.arange(5 * parts))
    torch.testing.assert_close(matrix.sum(1), torch.ones(5 * parts))
    # fewer transforms than parts: only the first parts are tied
    matrix3, slots3 = keypoint_landmark_matrix(3)
    assert matrix3.shape == (15, 68) and int(slots3.max()) == 14
    torch.testing.assert_close(matrix3, matrix[:15])


def test_layout_is_symmetric_under_a_mirror():
    """Every part mirrored is a part of the layout (the same points, renumbered), so a
    flipped face asks for the flipped arrangement, not another one."""
    matrix, _ = keypoint_landmark_matrix(len(FACE_KEYPOINT_LAYOUT), dtype=torch.float64)
    mirrored = matrix[:, list(MIRRORED_LANDMARKS)]
    rows = {tuple(row.tolist()) for row in matrix}
    for row in mirrored:
        assert tuple(row.tolist()) in rows


def test_layout_parts_are_not_collinear_on_a_real_face():
    """Each part spans an area on a real face (the bundled source photo's landmarks): no
    TPS of nearly collinear points."""
    pytest.importorskip("dlib")
    from footage import SAMPLE_SOURCE
    from tpsmm.faces import FaceAnalyzer
    from tpsmm.media import load_image

    image = np.asarray(load_image(SAMPLE_SOURCE))
    face = FaceAnalyzer().analyze(image)
    assert face is not None
    matrix, _ = keypoint_landmark_matrix(len(FACE_KEYPOINT_LAYOUT), dtype=torch.float64)
    points = matrix @ torch.tensor(face.landmarks, dtype=torch.float64)
    for part in points.view(-1, 5, 2):
        centred = part - part.mean(0)
        singular = torch.linalg.svdvals(centred)
        assert float(singular[1] / singular[0]) > 0.1


def test_keypoint_loss_closed_form():
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    landmarks = _landmarks(3, 0)
    targets = torch.einsum("ml,blc->bmc", matrix, landmarks)
    keypoints = torch.zeros(3, 50, 2, dtype=torch.float64)
    keypoints[:, slots] = targets
    found = torch.tensor([True, True, False])
    assert float(landmark_keypoint_loss(keypoints, landmarks, found, matrix, slots, 7.0)) == 0.0
    shift = torch.tensor([0.1, -0.3], dtype=torch.float64)
    moved = keypoints.clone()
    moved[:, slots] += shift
    value = landmark_keypoint_loss(moved, landmarks, found, matrix, slots, 7.0)
    torch.testing.assert_close(value, torch.tensor(7.0 * 0.2, dtype=torch.float64))
    # the frame without landmarks does not count, whatever its keypoints
    moved[2] += 5.0
    torch.testing.assert_close(
        landmark_keypoint_loss(moved, landmarks, found, matrix, slots, 7.0), value
    )
    # free keypoints (beyond the layout) do not count
    free = moved.clone()
    free[:, len(slots) :] += 3.0
    torch.testing.assert_close(
        landmark_keypoint_loss(free, landmarks, found, matrix, slots, 7.0), value
    )


def test_keypoint_loss_without_landmarks_is_zero_and_connected():
    matrix, slots = keypoint_landmark_matrix(10)
    keypoints = torch.rand(2, 50, 2, requires_grad=True)
    value = landmark_keypoint_loss(
        keypoints, torch.rand(2, 68, 2), torch.zeros(2, dtype=torch.bool), matrix, slots, 1.0
    )
    assert float(value.detach()) == 0.0
    value.backward()
    assert keypoints.grad is not None and float(keypoints.grad.abs().sum()) == 0.0


def test_keypoint_motion_loss_closed_form():
    """Only the motion counts: an offset shared by both frames costs nothing, a motion
    the landmarks do not make costs its mean absolute value."""
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    source, driving = _landmarks(3, 10), _landmarks(3, 11)
    found = torch.tensor([True, True, False])
    kp_source = torch.zeros(3, 50, 2, dtype=torch.float64)
    kp_source[:, slots] = torch.einsum("ml,blc->bmc", matrix, source)
    kp_driving = torch.zeros(3, 50, 2, dtype=torch.float64)
    kp_driving[:, slots] = torch.einsum("ml,blc->bmc", matrix, driving)

    def loss(kp_s: torch.Tensor, kp_d: torch.Tensor) -> torch.Tensor:
        return landmark_keypoint_motion_loss(kp_s, kp_d, source, driving, found, matrix, slots, 3.0)

    zero = torch.tensor(0.0, dtype=torch.float64)
    torch.testing.assert_close(loss(kp_source, kp_driving), zero)
    # the same offset in both frames (a detector's bias on a face) costs nothing,
    # though the absolute loss counts it
    offset = torch.tensor([0.2, -0.1], dtype=torch.float64)
    torch.testing.assert_close(loss(kp_source + offset, kp_driving + offset), zero)
    absolute = landmark_keypoint_loss(kp_driving + offset, driving, found, matrix, slots, 3.0)
    torch.testing.assert_close(absolute, torch.tensor(3.0 * 0.15, dtype=torch.float64))
    # the driving keypoints moved by (0.1, -0.3) where the landmarks did not: mean 0.2
    moved = kp_driving.clone()
    moved[:, slots] += torch.tensor([0.1, -0.3], dtype=torch.float64)
    value = loss(kp_source, moved)
    torch.testing.assert_close(value, torch.tensor(3.0 * 0.2, dtype=torch.float64))
    # a pair without landmarks and the free keypoints do not count
    moved[2] += 5.0
    moved[:, len(slots) :] += 3.0
    torch.testing.assert_close(loss(kp_source, moved), value)
    # no pair with landmarks: 0, connected to the keypoints
    kp = kp_driving.clone().requires_grad_()
    none = landmark_keypoint_motion_loss(
        kp_source, kp, source, driving, torch.zeros(3, dtype=torch.bool), matrix, slots, 3.0
    )
    assert float(none.detach()) == 0.0
    none.backward()
    assert kp.grad is not None and float(kp.grad.abs().sum()) == 0.0


def test_keypoint_motion_loss_gradcheck_float64():
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    source, driving = _landmarks(2, 12), _landmarks(2, 13)
    found = torch.tensor([True, True])
    kp_source = torch.rand(2, 50, 2, dtype=torch.float64) * 0.1
    kp_driving = kp_source.clone()
    # away from the kinks of |x| at 0: every keypoint's motion 0.5 off the landmarks'
    kp_driving[:, slots] += torch.einsum("ml,blc->bmc", matrix, driving - source) + 0.5
    inputs = (kp_source.requires_grad_(), kp_driving.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda s, d: landmark_keypoint_motion_loss(
            s, d, source, driving, found, matrix, slots, 2.0
        ),
        inputs,
    )


def test_opening_pairs_are_upper_and_lower_points_of_their_part():
    """Each pair joins two points of one part, the upper above the lower (the lids, the
    lips' middles) on a real face (the bundled source photo's landmarks)."""
    pytest.importorskip("dlib")
    from footage import SAMPLE_SOURCE
    from tpsmm.faces import FaceAnalyzer
    from tpsmm.media import load_image

    face = FaceAnalyzer().analyze(np.asarray(load_image(SAMPLE_SOURCE)))
    assert face is not None
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    targets = matrix @ torch.tensor(face.landmarks, dtype=torch.float64)
    row_of = {int(slot): row for row, slot in enumerate(slots.tolist())}
    for upper, lower in OPENING_PAIRS:
        assert upper[0] == lower[0]
        top = targets[row_of[upper[0] * 5 + upper[1]]]
        bottom = targets[row_of[lower[0] * 5 + lower[1]]]
        assert float(top[1]) < float(bottom[1])  # y grows downwards


def _opening_case(seed: int):
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    source = _landmarks(2, seed)
    driving = source.clone()
    driving[:, 37:39, 1] += 0.1  # the left eye's upper lid closes by 0.1
    kp_source = torch.zeros(2, 50, 2, dtype=torch.float64)
    kp_source[:, slots] = torch.einsum("ml,blc->bmc", matrix, source)
    return matrix, slots, source, driving, kp_source


def test_opening_loss_closed_form():
    matrix, slots, source, driving, kp_source = _opening_case(20)
    found = torch.tensor([True, True])

    def loss(kp_d: torch.Tensor) -> torch.Tensor:
        return landmark_opening_loss(kp_source, kp_d, source, driving, found, matrix, slots, 3.0)

    # keypoints that do not move miss the lid's 0.1: one coordinate of 4 pairs x 2
    torch.testing.assert_close(loss(kp_source), torch.tensor(3.0 * 0.1 / 8, dtype=torch.float64))
    # keypoints that follow the landmarks, whatever the whole face's shift, cost nothing
    following = kp_source.clone()
    following[:, slots] = torch.einsum("ml,blc->bmc", matrix, driving)
    torch.testing.assert_close(
        loss(following + torch.tensor([0.3, -0.2], dtype=torch.float64)),
        torch.tensor(0.0, dtype=torch.float64),
    )
    # a model with too few transforms for any pair: 0, connected
    few_matrix, few_slots = keypoint_landmark_matrix(3, dtype=torch.float64)
    kp = kp_source[:, :15].clone().requires_grad_()
    value = landmark_opening_loss(
        kp_source[:, :15], kp, source, driving, found, few_matrix, few_slots, 3.0
    )
    assert float(value.detach()) == 0.0
    value.backward()
    assert kp.grad is not None


def test_opening_loss_gradcheck_float64():
    matrix, slots, source, driving, kp_source = _opening_case(21)
    found = torch.tensor([True, True])
    kp_driving = kp_source.clone() + torch.rand(2, 50, 2, dtype=torch.float64) * 0.01
    kp_driving[:, slots[17]] += 0.5  # away from the kinks of |x| at 0
    kp_driving[:, slots[22]] += 0.5
    kp_driving[:, slots[27]] += 0.5
    kp_driving[:, slots[32]] += 0.5
    inputs = (kp_source.clone().requires_grad_(), kp_driving.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda s, d: landmark_opening_loss(s, d, source, driving, found, matrix, slots, 2.0),
        inputs,
    )


def test_flow_loss_closed_form_translation():
    """A deformation that translates by t, landmarks that moved by t: loss 0; by s
    instead: mean |t - s| over the coordinates."""
    size = 17
    grid = geometry.coordinate_grid(size, size, dtype=torch.float64).unsqueeze(0).repeat(2, 1, 1, 1)
    t = torch.tensor([0.1, -0.05], dtype=torch.float64)
    deformation = grid + t
    driving = _landmarks(2, 1) * 0.8
    found = torch.tensor([True, True])
    assert float(landmark_flow_loss(deformation, driving + t, driving, found, 3.0)) < 1e-12
    s = torch.tensor([-0.1, 0.05], dtype=torch.float64)
    value = landmark_flow_loss(deformation, driving + s, driving, found, 3.0)
    torch.testing.assert_close(value, torch.tensor(3.0 * 0.15, dtype=torch.float64))
    # a pair without landmarks does not count
    found = torch.tensor([True, False])
    source = driving + s
    source[1] += 4.0
    torch.testing.assert_close(landmark_flow_loss(deformation, source, driving, found, 3.0), value)


def test_flow_loss_samples_the_deformation_bilinearly():
    """On an affine deformation bilinear sampling is exact anywhere in the frame."""
    size = 9
    grid = geometry.coordinate_grid(size, size, dtype=torch.float64).unsqueeze(0)
    affine = torch.tensor([[0.9, 0.1], [-0.2, 1.1]], dtype=torch.float64)
    offset = torch.tensor([0.05, 0.02], dtype=torch.float64)
    deformation = grid @ affine.T + offset
    driving = _landmarks(1, 2)
    source = driving @ affine.T + offset
    value = landmark_flow_loss(deformation, source, driving, torch.tensor([True]), 1.0)
    assert float(value) < 1e-12


def test_gradcheck_float64():
    matrix, slots = keypoint_landmark_matrix(10, dtype=torch.float64)
    landmarks = _landmarks(2, 3)
    found = torch.tensor([True, True])
    targets = torch.einsum("ml,blc->bmc", matrix, landmarks)
    keypoints = torch.rand(2, 50, 2, dtype=torch.float64) * 0.1
    keypoints[:, slots] += targets  # away from the kinks of |x| at 0
    keypoints.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda kp: landmark_keypoint_loss(kp, landmarks, found, matrix, slots, 2.0), (keypoints,)
    )
    grid = geometry.coordinate_grid(6, 6, dtype=torch.float64).unsqueeze(0).repeat(2, 1, 1, 1)
    deformation = (grid * 0.9 + 0.3).requires_grad_()
    driving = _landmarks(2, 4) * 0.9
    source = _landmarks(2, 5) * 0.1 - 0.5  # far from D(driving): no kinks
    assert torch.autograd.gradcheck(
        lambda d: landmark_flow_loss(d, source, driving, found, 2.0), (deformation,)
    )


def test_parts_follow_the_layout():
    """Every landmark lies on the part of the layout whose transform moves it: at least
    four of each part's five points are made of its own landmarks (the fifth may be
    borrowed: a brow's point above an eye, the nose's base above the lips), and the
    mirror keeps the parts (the left and right eye swap)."""
    assert len(LANDMARK_PARTS) == 68
    for part, anchors in enumerate(FACE_KEYPOINT_LAYOUT[:7]):
        own = [all(LANDMARK_PARTS[index] == part for index in anchor) for anchor in anchors]
        assert sum(own) >= 4, (part, own)
    swap = {3: 4, 4: 3}
    for index, mirrored in enumerate(MIRRORED_LANDMARKS):
        part = LANDMARK_PARTS[index]
        assert LANDMARK_PARTS[mirrored] == swap.get(part, part)
    landmarks, channels = landmark_part_targets(4)
    assert sorted(set(channels.tolist())) == [1, 2, 3, 4] and len(landmarks) == 17 + 10 + 9 + 6
    landmarks, channels = landmark_part_targets(10)
    assert landmarks.tolist() == list(range(68))
    assert channels.tolist() == [part + 1 for part in LANDMARK_PARTS]


def _part_maps(landmarks: torch.Tensor, num_tps: int, size: int, right: bool) -> torch.Tensor:
    """Contribution maps constant over the frame: all the share on the part of landmark 62
    (the inner lips, channel 7) when ``right``, else on the background."""
    maps = torch.zeros(len(landmarks), num_tps + 1, size, size, dtype=landmarks.dtype)
    maps[:, 7 if right else 0] = 1.0
    return maps


def test_part_loss_closed_form():
    """The part's transform with the whole share: 0; equal shares: log(K+1); none: the
    floor's -log; only the landmarks' sampled shares count, frames without landmarks not."""
    landmarks = _landmarks(2, 6)
    found = torch.tensor([True, True])
    targets = landmark_part_targets(10)
    equal = torch.full((2, 11, 9, 9), 1 / 11, dtype=torch.float64)
    value = landmark_part_loss(equal, landmarks, found, targets, 2.0)
    torch.testing.assert_close(value, torch.tensor(2.0 * np.log(11), dtype=torch.float64))
    # all on the inner lips: 0 at their 8 landmarks, the floor at the other 60
    lips = _part_maps(landmarks, 10, 9, right=True)
    value = landmark_part_loss(lips, landmarks, found, targets, 1.0)
    expected = -np.log(PART_SHARE_FLOOR) * 60 / 68
    torch.testing.assert_close(value, torch.tensor(expected, dtype=torch.float64))
    # each landmark's own part where it lies: a map with each part's channel set around
    # its landmarks only (nearest grid cell, landmarks on cell centres)
    size = 65
    cells = torch.randperm(size * size, generator=torch.Generator().manual_seed(7))[:68]
    rows, cols = cells // size, cells % size
    on_grid = torch.stack((cols, rows), dim=-1).to(torch.float64) / (size - 1) * 2 - 1
    maps = torch.zeros(1, 11, size, size, dtype=torch.float64)
    maps[0, 0] = 1.0
    for landmark in range(68):
        maps[0, :, rows[landmark], cols[landmark]] = 0.0
        maps[0, LANDMARK_PARTS[landmark] + 1, rows[landmark], cols[landmark]] = 1.0
    value = landmark_part_loss(maps, on_grid[None], torch.tensor([True]), targets, 1.0)
    assert float(value) < 1e-12
    # a frame without landmarks does not count, and alone gives 0 connected to the maps
    value_one = landmark_part_loss(equal[:1], landmarks[:1], found[:1], targets, 2.0)
    mixed = landmark_part_loss(
        torch.cat((equal[:1], lips[1:])), landmarks, torch.tensor([True, False]), targets, 2.0
    )
    torch.testing.assert_close(mixed, value_one)
    maps = equal.clone().requires_grad_()
    none = landmark_part_loss(maps, landmarks, torch.tensor([False, False]), targets, 2.0)
    assert float(none.detach()) == 0.0
    none.backward()
    assert maps.grad is not None and float(maps.grad.abs().sum()) == 0.0


def test_part_loss_gradcheck_float64():
    generator = torch.Generator().manual_seed(8)
    logits = torch.randn(2, 11, 7, 7, generator=generator, dtype=torch.float64)
    maps = torch.softmax(logits, dim=1).requires_grad_()
    landmarks = _landmarks(2, 9) * 0.9
    found = torch.tensor([True, True])
    targets = landmark_part_targets(10)
    assert torch.autograd.gradcheck(
        lambda m: landmark_part_loss(m, landmarks, found, targets, 2.0), (maps,)
    )


@pytest.mark.parametrize("with_landmarks", [True, False])
def test_objective_terms(tiny_model, with_landmarks):
    """The objective returns both terms when weighted; without landmarks they are 0."""
    import dataclasses

    from tpsmm.training import GeneratorObjective

    params = tiny_model.config.train_params
    weights = dataclasses.replace(
        params.loss_weights,
        perceptual=[0.0] * 5,
        pixel=1.0,
        landmark_keypoints=5.0,
        landmark_flow=5.0,
        landmark_regions=5.0,
        landmark_parts=5.0,
        landmark_keypoint_motion=5.0,
        landmark_opening=5.0,
    )
    params = dataclasses.replace(params, loss_weights=weights)
    objective = GeneratorObjective(tiny_model, params)
    size = tiny_model.frame_size
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(2, 3, size, size, generator=generator)
    driving = torch.rand(2, 3, size, size, generator=generator)
    landmarks = (torch.rand(2, 2, 68, 2, generator=generator) - 0.5) if with_landmarks else None
    found = torch.ones(2, 2, dtype=torch.bool) if with_landmarks else None
    losses, _ = objective(source, driving, 100, landmarks=landmarks, landmarks_found=found)
    names = (
        "landmark_keypoints",
        "landmark_flow",
        "landmark_regions",
        "landmark_parts",
        "landmark_keypoint_motion",
        "landmark_opening",
    )
    assert set(names) <= set(losses)
    # the tiny model's 2 transforms reach no pair of landmark_opening: always 0 there
    for name in names[:-1]:
        assert (float(losses[name].detach()) > 0) == with_landmarks, name
    assert float(losses["landmark_opening"].detach()) == 0.0
    assert losses["landmark_opening"].requires_grad
    assert losses["landmark_regions"].requires_grad
    assert losses["landmark_parts"].requires_grad


def test_keypoint_stage_runs_and_changes_only_the_detector(tiny_model):
    """With only keypoint-level terms weighted, the dense motion and inpainting networks
    neither run nor get gradients."""
    import dataclasses

    from tpsmm.config import LossWeights
    from tpsmm.training import GeneratorObjective

    weights = LossWeights(
        perceptual=[0.0] * 5,
        equivariance_value=1.0,
        warp_loss=0.0,
        bg=0.0,
        landmark_keypoints=5.0,
        landmark_keypoint_motion=5.0,
    )
    params = dataclasses.replace(tiny_model.config.train_params, loss_weights=weights)
    objective = GeneratorObjective(tiny_model, params)
    assert not objective.uses_dense_motion() and not objective.uses_inpainting()
    size = tiny_model.frame_size
    generator = torch.Generator().manual_seed(1)
    images = torch.rand(4, 3, size, size, generator=generator)
    landmarks = torch.rand(2, 2, 68, 2, generator=generator) - 0.5
    tiny_model.zero_grad(set_to_none=True)
    losses, generated = objective(
        images[:2], images[2:], 100, landmarks=landmarks, landmarks_found=torch.ones(2, 2).bool()
    )
    assert set(losses) == {"equivariance_value", "landmark_keypoints", "landmark_keypoint_motion"}
    assert generated["deformation"] is None and generated["prediction"] is None
    sum(losses.values()).backward()
    assert any(p.grad is not None for p in tiny_model.kp_detector.parameters())
    for network in (tiny_model.dense_motion_network, tiny_model.inpainting_network):
        assert all(p.grad is None for p in network.parameters())


def _face_landmarks(eye_distance: float) -> torch.Tensor:
    """(1, 68, 2) float64: the eyes' points around (-d/2, 0) and (d/2, 0), the mouth's
    around (0, d); the rest far off to the left."""
    landmarks = torch.full((1, 68, 2), -0.9, dtype=torch.float64)
    angles = torch.linspace(0, 2 * np.pi, 7, dtype=torch.float64)[:6]
    ring = torch.stack((angles.cos(), angles.sin()), dim=-1) * 0.02
    landmarks[0, 36:42] = ring + torch.tensor([-eye_distance / 2, 0.0], dtype=torch.float64)
    landmarks[0, 42:48] = ring + torch.tensor([eye_distance / 2, 0.0], dtype=torch.float64)
    landmarks[0, 48:68] = torch.tensor([0.0, eye_distance], dtype=torch.float64)
    return landmarks


def test_regions_are_gaussians_scaled_by_the_eyes_distance():
    """1 on the landmarks, exp(-1/2) one sigma away (sigma = REGION_RADIUS times the
    eyes' distance), next to 0 far away; twice the face, twice the radius."""
    size = 201  # pixel k at -1 + k / 100
    for distance in (0.4, 0.8):
        mask = expression_regions(_face_landmarks(distance), size, size)[0, 0]
        sigma = REGION_RADIUS * distance
        column = 100  # x = 0
        row = round((distance + 1) * 100)  # the mouth at (0, d)
        assert mask.shape == (size, size) and float(mask[row, column]) == pytest.approx(1.0)
        below = round((distance + sigma + 1) * 100)
        expected = np.exp(-0.5 * ((below - row) / 100 / sigma) ** 2)
        assert float(mask[below, column]) == pytest.approx(expected, rel=1e-9)
        assert float(mask[0, size - 1]) < 1e-6  # the top right corner
        assert float(mask.min()) >= 0 and float(mask.max()) <= 1 + 1e-12


def test_region_loss_closed_form():
    """A constant error c: c times the weight; an error far from the regions: 0; a frame
    without landmarks counts for nothing."""
    landmarks = _face_landmarks(0.5).repeat(2, 1, 1)
    real = torch.rand(2, 3, 64, 64, dtype=torch.float64)
    found = torch.tensor([True, True])
    value = landmark_region_loss(real + 0.1, real, landmarks, found, 3.0)
    assert float(value) == pytest.approx(0.3, rel=1e-9)
    far = real.clone()
    far[..., :4, -4:] += 0.5  # the top right corner, many sigmas away
    assert float(landmark_region_loss(far, real, landmarks, found, 3.0)) < 1e-12
    one = real.clone()
    one[1] += 0.2  # only the frame without landmarks is wrong
    value = landmark_region_loss(one, real, landmarks, torch.tensor([True, False]), 1.0)
    assert float(value) == pytest.approx(0.0, abs=1e-15)
    none = landmark_region_loss(real + 0.1, real, landmarks, torch.tensor([False, False]), 1.0)
    assert float(none) == 0.0


def test_region_loss_gradcheck_float64():
    landmarks = _face_landmarks(0.6)
    real = torch.rand(1, 3, 12, 12, dtype=torch.float64)
    offset = torch.rand(1, 3, 12, 12, dtype=torch.float64) * 0.5 + 0.1  # away from |x|'s kink
    prediction = (real + offset).requires_grad_()
    found = torch.tensor([True])
    assert torch.autograd.gradcheck(
        lambda p: landmark_region_loss(p, real, landmarks, found, 2.0), (prediction,)
    )


def test_region_loss_of_a_bfloat16_prediction():
    """Under bfloat16 autocast the regions are still drawn in float32: the loss is the
    float32 one up to bfloat16's rounding of the prediction and the mask (8 bits of
    mantissa: a relative 2^-8 each)."""
    landmarks = _face_landmarks(0.5).float()
    generator = torch.Generator().manual_seed(3)
    real = torch.rand(1, 3, 64, 64, generator=generator)
    prediction = real + 0.2 * torch.rand(1, 3, 64, 64, generator=generator)
    found = torch.tensor([True])
    exact = landmark_region_loss(prediction, real, landmarks, found, 1.0)
    rounded = landmark_region_loss(prediction.bfloat16(), real, landmarks, found, 1.0)
    assert rounded.dtype == torch.bfloat16
    assert float(rounded) == pytest.approx(float(exact), rel=4 * 2**-8)
