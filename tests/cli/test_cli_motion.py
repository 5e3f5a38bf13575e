"""Motion files and the motion scale: ``tpsmm motion`` and ``animate --driving motion.npz``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, read_png_folder

import tpsmm
from tiny_model import tiny_model
from tpsmm.animation.keypoints import check_motion_scale, relative_keypoints, scale_motion
from tpsmm.animation.motion_file import MOTION_FORMAT, load_motion, save_motion
from tpsmm.errors import TPSMMError
from tpsmm.media import VideoReader

FRAMES = 6


@pytest.fixture(scope="module")
def motion_file(tiny_checkpoint, tmp_path_factory):
    """The motion of the sample's first frames, found in batches of 2."""
    path = tmp_path_factory.mktemp("motion") / "talk.npz"
    status = tpsmm.cli.main(
        ["motion", "--driving", str(SAMPLE_DRIVING), "--checkpoint", str(tiny_checkpoint),
         "--out", str(path), "--max-frames", str(FRAMES), "--batch-size", "2", "-q"]
    )  # fmt: skip
    assert status == 0
    return path


def animate(run_cli, checkpoint, driving, out, *extra):
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", driving, "--checkpoint", checkpoint,
        "--output", out, "--batch-size", 2, "-q", *extra,
    )  # fmt: skip
    assert result.status == 0, result.err
    return result


@pytest.mark.parametrize("mode", ["relative", "standard", "avd"])
def test_motion_file_reproduces_the_frames_of_the_video(
    run_cli, tiny_checkpoint, motion_file, tmp_path, mode
):
    from_video = tmp_path / "video"
    from_motion = tmp_path / "motion"
    animate(
        run_cli, tiny_checkpoint, SAMPLE_DRIVING, from_video, "--max-frames", FRAMES, "--mode", mode
    )
    animate(run_cli, tiny_checkpoint, motion_file, from_motion, "--mode", mode)
    # exactly: the same keypoints (stored in float32, as computed) and the same batches
    np.testing.assert_array_equal(read_png_folder(from_motion), read_png_folder(from_video))


def test_motion_file_holds_keypoints_config_rate_and_audio_but_no_pixels(motion_file, tiny_model):
    motion = load_motion(motion_file)
    assert motion.keypoints.shape == (FRAMES, tiny_model.num_tps * 5, 2)
    assert motion.keypoints.dtype == np.float32
    assert motion.frame_rate == 25 and motion.video_size == (410, 412)
    assert motion.framing == "crop" and motion.boxes is None
    assert motion.audio is not None and len(motion.audio) > 1000
    assert motion.config.to_dict() == tiny_model.config.to_dict()
    assert motion.check_model(tiny_model)
    with np.load(motion_file, allow_pickle=False) as data:
        assert str(data["format"]) == MOTION_FORMAT
        largest = max(data[key].size for key in data.files if key != "audio")
        assert largest == FRAMES * tiny_model.num_tps * 5 * 2  # nothing the size of a frame


def test_animating_a_motion_file_to_mp4_keeps_rate_and_audio(
    run_cli, tiny_checkpoint, motion_file, tmp_path
):
    out = tmp_path / "out.mp4"
    animate(run_cli, tiny_checkpoint, motion_file, out, "--side-by-side")
    with VideoReader(out) as reader:
        assert reader.frame_rate == 25 and reader.has_audio
        assert reader.size == (3 * 64, 64)
        assert sum(1 for _ in reader) == FRAMES


def test_motion_scale_zero_is_still(run_cli, tiny_checkpoint, motion_file, tmp_path):
    out = tmp_path / "still"
    animate(run_cli, tiny_checkpoint, motion_file, out, "--motion-scale", 0)
    frames = read_png_folder(out)
    for frame in frames[1:]:
        np.testing.assert_array_equal(frame, frames[0])


def test_scale_motion_scales_the_relative_motion():
    torch.manual_seed(0)
    source, driving, reference = torch.rand(1, 10, 2), torch.rand(3, 10, 2), torch.rand(1, 10, 2)
    assert scale_motion(driving, reference, 1.0) is driving
    torch.testing.assert_close(scale_motion(driving, reference, 0.0), reference.expand(3, 10, 2))
    scaled = relative_keypoints(source, scale_motion(driving, reference, 2.5), reference, 0.7)
    torch.testing.assert_close(scaled, source + (driving - reference) * 0.7 * 2.5)
    with pytest.raises(TPSMMError, match=">= 0"):
        check_motion_scale(-1)
    with pytest.raises(TPSMMError, match=">= 0"):
        check_motion_scale(float("nan"))


def test_other_models(run_cli, motion_file, tmp_path):
    other = tpsmm.save_checkpoint(tmp_path / "other.pth.tar", tiny_model(seed=5))
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", motion_file, "--checkpoint", other,
        "--output", tmp_path / "out", "-q",
    )  # fmt: skip
    assert result.status == 0
    assert "warning" in result.err and "other keypoint detector weights" in result.err
    wider = tiny_model(model_params__common_params__num_tps=3)
    third = tpsmm.save_checkpoint(tmp_path / "three.pth.tar", wider)
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", motion_file, "--checkpoint", third,
        "--output", tmp_path / "out2",
    )  # fmt: skip
    assert result.status == 2
    assert result.error_lines == [result.error_lines[0]] and "2 TPS" in result.err
    assert not (tmp_path / "out2").exists()


def test_bad_motion_files_and_options(run_cli, tiny_checkpoint, motion_file, tmp_path):
    fake = tmp_path / "fake.npz"
    np.savez(fake, something=np.zeros(3))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip")
    for path, message in [(fake, "not a tpsmm motion file"), (broken, "not a tpsmm motion file"),
                          (tmp_path / "missing.npz", "no such motion file")]:  # fmt: skip
        result = run_cli(
            "animate", "--source", SAMPLE_SOURCE, "--driving", path, "--checkpoint",
            tiny_checkpoint, "--output", tmp_path / "o.mp4",
        )  # fmt: skip
        assert result.status == 2 and message in result.err, result.err
        assert len(result.error_lines) == 1
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", motion_file, "--checkpoint",
        tiny_checkpoint, "--output", tmp_path / "o.mp4", "--find-best-frame",
    )  # fmt: skip
    assert result.status == 2 and "motion file has only keypoints" in result.err
    result = run_cli("motion", "--driving", SAMPLE_DRIVING, "--checkpoint", tiny_checkpoint,
                     "--out", tmp_path / "m.txt")  # fmt: skip
    assert result.status == 2 and "must end in .npz" in result.err


def damaged_copies(motion_file, folder):
    """Motion files damaged in the ways a user meets: name -> (path, what the message says)."""
    contents = motion_file.read_bytes()
    arrays = dict(np.load(motion_file, allow_pickle=False))
    files = {
        "truncated": (contents[: len(contents) // 3], "archive is cut short or corrupt"),
        "empty": (b"", "empty file, not a motion file"),
        "video renamed": (SAMPLE_DRIVING.read_bytes(), "not a tpsmm motion file"),
    }
    damaged = {name: (folder / f"{name}.npz", message) for name, (_, message) in files.items()}
    for name, (content, _) in files.items():
        damaged[name][0].write_bytes(content)
    nan = arrays["keypoints"].copy()
    nan[2, 3, 0] = np.nan
    changes = {
        "frame rate 0": ({"frame_rate": np.array([0, 1])}, "frame rate 0/1"),
        "no denominator": ({"frame_rate": np.array([25, 0])}, "frame rate 25/0"),
        "NaN keypoints": ({"keypoints": nan}, "not finite numbers at frame 2"),
        "garbage audio": (
            {"audio": np.frombuffer(b"garbage" * 100, np.uint8)},
            "its audio cannot be read",
        ),
        "object array": ({"framing": np.array([{"a": 1}], dtype=object)}, "Python objects"),
        "no keypoints": ({"keypoints": None}, "no keypoints entry"),
    }
    for name, (change, message) in changes.items():
        path = folder / f"{name}.npz"
        content = {key: value for key, value in {**arrays, **change}.items() if value is not None}
        np.savez(path, **content)
        damaged[name] = (path, message)
    return damaged


def test_damaged_motion_files_end_in_one_line_and_no_output(
    run_cli, tiny_checkpoint, motion_file, tmp_path
):
    for name, (path, message) in damaged_copies(motion_file, tmp_path).items():
        out = tmp_path / f"out-{name}.mp4"
        result = run_cli(
            "animate", "--source", SAMPLE_SOURCE, "--driving", path, "--checkpoint",
            tiny_checkpoint, "--output", out,
        )  # fmt: skip
        assert result.status == 2, (name, result.err)
        assert result.error_lines == [
            f"tpsmm animate: error: {path}: {result.err.split(': ', 3)[3].strip()}"
        ]
        assert message in result.err and "Traceback" not in result.err, (name, result.err)
        assert not out.exists() and not list(tmp_path.glob("*.mp4.partial*"))


def test_audio_errors_name_the_motion_file_not_a_temporary_file(
    run_cli, tiny_checkpoint, motion_file, tmp_path, monkeypatch
):
    from tpsmm.errors import MediaError
    from tpsmm.media import writer as writer_module

    def unreadable(path, start_time=None):
        raise MediaError(f"{path}: corrupt audio (Invalid data found when processing input)")

    monkeypatch.setattr(writer_module.AudioSource, "open", staticmethod(unreadable))
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", motion_file, "--checkpoint",
        tiny_checkpoint, "--output", tmp_path / "out.mp4",
    )  # fmt: skip
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm animate: error: {motion_file} (its audio): corrupt audio "
        "(Invalid data found when processing input)"
    ]


def test_save_and_load_round_trip(motion_file, tmp_path):
    motion = load_motion(motion_file)
    again = load_motion(save_motion(tmp_path / "copy.npz", motion))
    np.testing.assert_array_equal(again.keypoints, motion.keypoints)
    assert (again.frame_rate, again.audio, again.detector_digest) == (
        motion.frame_rate, motion.audio, motion.detector_digest
    )  # fmt: skip
