"""Facial landmarks of dataset videos (tpsmm.data.landmarks), the pairs that carry them
and the measured flow (tpsmm.data.pseudo_flow) through the dataset's augmentations."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from data_helpers import write_png_folder

from tpsmm.data import build_dataset
from tpsmm.data.landmarks import (
    MIRRORED_LANDMARKS,
    NUM_LANDMARKS,
    LandmarkFile,
    VideoLandmarks,
    landmarks_path,
    mirror_landmarks,
    normalise_points,
    read_landmarks,
    write_landmarks,
)
from tpsmm.data.pseudo_flow import pseudo_flow
from tpsmm.errors import ConfigError, TPSMMError

SIZE = 48


def test_mirror_is_an_involution_that_keeps_the_midline():
    mirror = np.array(MIRRORED_LANDMARKS)
    assert sorted(mirror) == list(range(NUM_LANDMARKS))
    assert np.array_equal(mirror[mirror], np.arange(NUM_LANDMARKS))
    for midline in (8, 27, 28, 29, 30, 33, 51, 57, 62, 66):
        assert mirror[midline] == midline
    points = np.random.default_rng(0).uniform(-1, 1, (3, NUM_LANDMARKS, 2)).astype(np.float32)
    np.testing.assert_array_equal(mirror_landmarks(mirror_landmarks(points)), points)
    flipped = mirror_landmarks(points)
    np.testing.assert_array_equal(flipped[:, 36, 0], -points[:, 45, 0])


def test_normalise_points_pixel_centres():
    corners = np.array([[0.0, 0.0], [63.0, 31.0], [31.5, 15.5]])
    np.testing.assert_allclose(
        normalise_points(corners, 64, 32), [[-1, -1], [1, 1], [0, 0]], atol=1e-6
    )


def test_write_read_round_trip_and_bad_files(tmp_path):
    video = tmp_path / "clip#0"
    video.mkdir()
    assert read_landmarks(video) is None
    points = np.random.default_rng(1).uniform(-1, 1, (4, NUM_LANDMARKS, 2)).astype(np.float32)
    found = np.array([True, False, True, True])
    path = write_landmarks(video, VideoLandmarks(points, found, (64, 48)))
    assert path == landmarks_path(video) == tmp_path / "clip#0.landmarks.npz"
    read = read_landmarks(video)
    assert read is not None and read.size == (64, 48)
    np.testing.assert_array_equal(read.found, found)
    np.testing.assert_array_equal(read.points[found], points[found])
    assert not read.points[1].any()
    looked_up, looked_found = LandmarkFile(video).frames([2, 1, 9])
    np.testing.assert_array_equal(looked_found, [True, False, False])
    np.testing.assert_array_equal(looked_up[0], points[2])
    path.write_bytes(b"not a zip")
    with pytest.raises(TPSMMError, match="not a tpsmm landmark file"):
        read_landmarks(video)


def test_find_landmarks_of_the_sample_and_the_command(tmp_path, capsys):
    """On real frames (the bundled video, first frames): a face everywhere, and the
    points where dlib puts them on each frame alone."""
    pytest.importorskip("dlib")
    from footage import SAMPLE_DRIVING
    from tpsmm.cli import main
    from tpsmm.faces import FaceAnalyzer
    from tpsmm.faces.tracking import default_finder
    from tpsmm.media import VideoReader

    with VideoReader(SAMPLE_DRIVING) as reader:
        frames = [frame for _, frame in zip(range(3), reader, strict=False)]
    root = tmp_path / "data"
    write_png_folder(root / "train" / "talk#0", np.stack(frames))
    write_png_folder(root / "test" / "talk#1", np.stack(frames[:2]))
    assert main(["dataset", "landmarks", str(root)]) == 0
    assert "3 of 3 frames with a face" in capsys.readouterr().out
    landmarks = read_landmarks(root / "train" / "talk#0")
    assert landmarks is not None and landmarks.found.all()
    height, width = frames[0].shape[:2]
    first = default_finder().find_all(frames[0], largest=True)[0]
    np.testing.assert_allclose(landmarks.points[0], normalise_points(first, width, height))
    # later frames: the face followed, dlib's points up to its box's influence (pixels)
    for index in (1, 2):
        face = FaceAnalyzer(upsample=0).analyze(frames[index])
        assert face is not None
        expected = normalise_points(face.landmarks, width, height)
        assert np.abs(landmarks.points[index] - expected).max() * width / 2 < 4
    assert read_landmarks(root / "test" / "talk#1") is not None
    assert main(["dataset", "landmarks", str(root)]) == 0
    assert "kept" in capsys.readouterr().out


# Pairs that carry landmarks ------------------------------------------------------------


def _coded_frames(count: int) -> np.ndarray:
    """Frames whose red and green channels encode the pixel's normalised x and y (so a
    point's colour says where it came from), blue varying with time."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
    frames = np.empty((count, SIZE, SIZE, 3), dtype=np.uint8)
    for t in range(count):
        frames[t, ..., 0] = np.rint(xs * 255)
        frames[t, ..., 1] = np.rint(ys * 255)
        frames[t, ..., 2] = 40 * t
    return frames


def _dataset(tmp_path: Path, **params):
    root = tmp_path / "data"
    video = write_png_folder(root / "train" / "clip#0", _coded_frames(4))
    write_png_folder(root / "test" / "clip#1", _coded_frames(2))
    points = np.random.default_rng(2).uniform(-0.6, 0.6, (4, NUM_LANDMARKS, 2)).astype(np.float32)
    found = np.array([True, True, False, True])
    write_landmarks(video, VideoLandmarks(points, found, (SIZE, SIZE)))
    dataset = build_dataset({"root_dir": str(root), "landmarks": True, **params}, is_train=True)
    dataset.set_epoch(0)
    return dataset, points, found


def _decode(frame: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """The normalised position each point's colour encodes (see _coded_frames)."""
    sampled = F.grid_sample(frame[None], points[None, :, None], align_corners=True)[0, :2, :, 0]
    return sampled.T * 2 - 1


def test_landmarks_follow_flips_and_motion(tmp_path):
    augmentation = {
        "flip_param": {"horizontal_flip": True, "time_flip": True},
        "motion_param": {
            "view_degrees": 15,
            "view_scale": 0.1,
            "view_shift": 0.1,
            "motion_probability": 1.0,
            "motion_degrees": 10,
            "motion_scale": 0.1,
            "motion_shift": 0.1,
        },
    }
    dataset, points, found = _dataset(tmp_path, augmentation_params=augmentation)
    flipped_seen = {False: 0, True: 0}
    for draw in range(24):
        item = dataset.get_item(0, draw=draw)
        assert item["landmarks"].shape == (2, NUM_LANDMARKS, 2)
        for side in (0, 1):
            if not item["landmarks_found"][side]:
                continue
            lm = item["landmarks"][side]
            inside = (lm.abs() < 0.95).all(-1)
            decoded = _decode(item["source" if side == 0 else "driving"], lm)[inside].numpy()
            # which original frame and orientation the decoded positions match
            options = {
                (frame, flipped): (mirror_landmarks(points[frame]) if flipped else points[frame])
                for frame in range(4)
                if found[frame]
                for flipped in (False, True)
            }
            errors = {
                key: np.abs(decoded - (value * [-1, 1] if key[1] else value)[inside.numpy()]).max()
                for key, value in options.items()
            }
            best = min(errors, key=errors.get)
            assert errors[best] < 0.02, errors
            flipped_seen[best[1]] += 1
    assert flipped_seen[False] > 0 and flipped_seen[True] > 0


def test_frames_without_landmarks_and_geometric_steps_refused(tmp_path):
    dataset, _, _ = _dataset(tmp_path)
    flags = [tuple(dataset.get_item(0, draw=d)["landmarks_found"].tolist()) for d in range(20)]
    assert any(not all(f) for f in flags) and any(all(f) for f in flags)
    with pytest.raises(ConfigError, match="rotation_param"):
        _dataset(tmp_path / "other", augmentation_params={"rotation_param": {"degrees": 10}})


# Measured flow -----------------------------------------------------------------------


def _texture(size: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.3, 1, (size // 4, size // 4, 3)).astype(np.float32)
    image = torch.from_numpy(coarse).permute(2, 0, 1)[None]
    image = F.interpolate(image, size=(size, size), mode="bicubic", align_corners=False)
    return image[0].permute(1, 2, 0).clamp(0, 1).numpy()


def test_pseudo_flow_recovers_a_translation_and_drops_what_is_hidden():
    pytest.importorskip("cv2")
    size, dx, dy = 96, 3, 2
    big = _texture(size + 16, 3)
    source = big[8 : 8 + size, 8 : 8 + size]
    driving = big[8 - dy : 8 - dy + size, 8 - dx : 8 - dx + size].copy()
    # the driving frame shows the source's pixel (x - dx, y - dy) at (x, y)
    driving[40:56, 40:56] = 0.0  # a flat patch the source does not show (teeth, say)
    deformation, valid = pseudo_flow(source, driving)
    ys, xs = np.mgrid[0:size, 0:size]
    expected = np.stack(((xs - dx) * 2 / (size - 1) - 1, (ys - dy) * 2 / (size - 1) - 1), -1)
    core = valid.copy()
    core[:8], core[-8:], core[:, :8], core[:, -8:] = False, False, False, False
    assert core.mean() > 0.6
    error_px = np.abs(deformation - expected)[core] * (size - 1) / 2
    assert np.median(error_px) < 0.25
    assert valid[44:52, 44:52].mean() < 0.2
    assert not valid[:, :2].any()  # x - 3 is outside the source there


def test_pairs_with_pseudo_flow(tmp_path):
    pytest.importorskip("cv2")
    dataset, _, _ = _dataset(tmp_path, pseudo_flow=True)
    item = dataset.get_item(0, draw=0)
    assert item["flow"].shape == (SIZE, SIZE, 2) and item["flow_valid"].dtype == torch.bool
    assert not bool(item["camera_valid"])
