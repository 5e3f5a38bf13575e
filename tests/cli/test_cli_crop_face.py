"""``--crop-face`` and ``--paste-back`` on real footage: the bundled photo and video, and
1080x1920 portrait versions of them (the face off-centre, as in a phone video)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, read_png_folder, write_video
from PIL import Image

from footage import portrait_photo, portrait_video
from tpsmm.animation.motion_file import load_motion
from tpsmm.faces.crop import crop_for_pose, fit_inside
from tpsmm.faces.tracking import find_face
from tpsmm.media import VideoReader, load_image

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None, reason="needs the eval extra (dlib-bin)"
)
FRAMES = 4


@pytest.fixture(scope="module")
def portrait(tmp_path_factory):
    """(photo, video) 1080x1920, the video 12 frames long with the sample's audio."""
    folder = tmp_path_factory.mktemp("portrait")
    return portrait_photo(folder / "photo.png"), portrait_video(folder / "video.mp4", 12)


def animate(run_cli, checkpoint, source, driving, out, *extra):
    result = run_cli(
        "animate", "--source", source, "--driving", driving, "--checkpoint", checkpoint,
        "--output", out, "--max-frames", FRAMES, "-q", *extra,
    )  # fmt: skip
    assert result.status == 0, result.err
    return result


@pytest.mark.parametrize("mode", ["relative", "standard", "avd"])
def test_paste_back_has_the_source_size_and_keeps_it_outside_the_face(
    run_cli, tiny_checkpoint, portrait, tmp_path, mode
):
    photo, video = portrait
    out = tmp_path / "frames"
    animate(
        run_cli, tiny_checkpoint, photo, video, out, "--crop-face", "--paste-back", "--mode", mode
    )
    frames = read_png_folder(out)
    source = load_image(photo)
    assert frames.shape == (FRAMES, 1920, 1080, 3)
    # every changed pixel lies inside the source's face crop; outside it, the source as is
    box = fit_inside(crop_for_pose(find_face(source)), 1080, 1920)
    changed = (frames != source).any(axis=(0, 3))
    rows, cols = np.nonzero(changed)
    assert rows.size > 0
    assert rows.min() >= np.floor(box.top) and rows.max() < np.ceil(box.bottom)
    assert cols.min() >= np.floor(box.left) and cols.max() < np.ceil(box.right)
    outside = np.ones_like(changed)
    outside[int(box.top) : int(np.ceil(box.bottom)), int(box.left) : int(np.ceil(box.right))] = (
        False
    )
    np.testing.assert_array_equal(
        frames[:, outside], np.broadcast_to(source[outside], frames[:, outside].shape)
    )


def test_paste_back_renders_the_face_at_its_own_size_by_default(
    run_cli, tiny_checkpoint, portrait, tmp_path
):
    """With --crop-face --paste-back, --resolution auto is the default: the face is
    rendered at the crop's size in the photo, not pasted up from the model's size."""
    photo, video = portrait
    frames = {}
    for name, extra in (("default", ()), ("auto", ("--resolution", "auto"))):
        out = tmp_path / name
        animate(run_cli, tiny_checkpoint, photo, video, out, "--crop-face", "--paste-back", *extra)
        frames[name] = read_png_folder(out)
    out = tmp_path / "model"
    animate(
        run_cli, tiny_checkpoint, photo, video, out, "--crop-face", "--paste-back",
        "--resolution", "model",
    )  # fmt: skip
    np.testing.assert_array_equal(frames["default"], frames["auto"])
    assert (frames["default"] != read_png_folder(out)).any()


def test_portrait_mp4_keeps_size_rate_and_audio(run_cli, tiny_checkpoint, portrait, tmp_path):
    photo, video = portrait
    out = tmp_path / "out.mp4"
    animate(run_cli, tiny_checkpoint, photo, video, out, "--crop-face", "--paste-back")
    with VideoReader(out) as reader:
        assert reader.size == (1080, 1920) and reader.frame_rate == 25 and reader.has_audio
        assert sum(1 for _ in reader) == FRAMES


def test_side_by_side_with_paste_back(run_cli, tiny_checkpoint, portrait, tmp_path):
    photo, video = portrait
    out = tmp_path / "sbs"
    animate(
        run_cli, tiny_checkpoint, photo, video, out, "--crop-face", "--paste-back", "--side-by-side"
    )
    frames = read_png_folder(out)
    # source | driving (1080x1920 at the source's height) | result
    assert frames.shape == (FRAMES, 1920, 3 * 1080, 3)
    np.testing.assert_array_equal(frames[0, :, :1080], load_image(photo))


def test_odd_sized_source_gives_even_h264(run_cli, tiny_checkpoint, tmp_path):
    odd = tmp_path / "odd.png"
    Image.open(SAMPLE_SOURCE).convert("RGB").resize((341, 339)).save(odd)
    out = tmp_path / "odd.mp4"
    animate(run_cli, tiny_checkpoint, odd, SAMPLE_DRIVING, out, "--crop-face", "--paste-back")
    with VideoReader(out) as reader:
        assert reader.size == (342, 340)


def test_crop_face_without_paste_back_gives_model_frames(
    run_cli, tiny_checkpoint, portrait, tmp_path
):
    photo, video = portrait
    out = tmp_path / "crop"
    animate(run_cli, tiny_checkpoint, photo, video, out, "--crop-face")
    assert read_png_folder(out).shape == (FRAMES, 64, 64, 3)


def test_paste_back_without_crop_face(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "pasted"
    animate(
        run_cli, tiny_checkpoint, SAMPLE_SOURCE, SAMPLE_DRIVING, out, "--paste-back", "--fit", "pad"
    )
    assert read_png_folder(out).shape == (FRAMES, 676, 680, 3)


def test_motion_file_with_face_boxes(run_cli, tiny_checkpoint, portrait, tmp_path):
    photo, video = portrait
    motion = tmp_path / "m.npz"
    result = run_cli("motion", "--driving", video, "--checkpoint", tiny_checkpoint, "--out",
                     motion, "--crop-face", "--max-frames", FRAMES)  # fmt: skip
    assert result.status == 0, result.err
    loaded = load_motion(motion)
    assert loaded.framing == "face" and loaded.boxes.shape == (FRAMES, 3)
    from_motion, from_video = tmp_path / "a", tmp_path / "b"
    animate(run_cli, tiny_checkpoint, photo, motion, from_motion, "--crop-face", "--paste-back")
    animate(run_cli, tiny_checkpoint, photo, video, from_video, "--crop-face", "--paste-back")
    np.testing.assert_array_equal(read_png_folder(from_motion), read_png_folder(from_video))


def test_no_face_in_the_source_is_one_line(run_cli, tiny_checkpoint, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 200, 3), 120, np.uint8)).save(blank)
    out = tmp_path / "out.mp4"
    result = run_cli("animate", "--source", blank, "--driving", SAMPLE_DRIVING, "--checkpoint",
                     tiny_checkpoint, "--output", out, "--crop-face")  # fmt: skip
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm animate: error: {blank}: no face found in the source image (--crop-face "
        "needs a frontal face; crop the image yourself and leave out --crop-face)"
    ]
    assert not out.exists()


def test_no_face_in_the_driving_video_is_one_line(run_cli, tiny_checkpoint, tmp_path):
    video = write_video(tmp_path / "wall.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 3)
    result = run_cli("animate", "--source", SAMPLE_SOURCE, "--driving", video, "--checkpoint",
                     tiny_checkpoint, "--output", tmp_path / "o.mp4", "--crop-face")  # fmt: skip
    assert result.status == 2 and "no face found in any frame" in result.err
    assert len(result.error_lines) == 1
