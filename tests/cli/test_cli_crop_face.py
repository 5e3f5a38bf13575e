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
        "needs a face facing the camera, at least about 45 pixels wide; crop the image "
        "yourself and leave out --crop-face)"
    ]
    assert not out.exists()


def sample_face(side: int) -> np.ndarray:
    """The sample source photo at ``side`` x ``side`` (its face about half as wide)."""
    image = Image.open(SAMPLE_SOURCE).convert("RGB")
    return np.asarray(image.resize((side, side), Image.Resampling.LANCZOS))


def test_a_face_too_small_is_said_to_be_too_small(run_cli, tiny_checkpoint, tmp_path):
    """A face of about 20 pixels in a 400x400 photo: too small for the detector, said
    so (it was "no face found ... needs a frontal face")."""
    photo = tmp_path / "far.png"
    canvas = np.full((400, 400, 3), 128, np.uint8)
    canvas[100:140, 150:190] = sample_face(40)
    Image.fromarray(canvas).save(photo)
    result = run_cli("animate", "--source", photo, "--driving", SAMPLE_DRIVING, "--checkpoint",
                     tiny_checkpoint, "--output", tmp_path / "out.mp4", "--crop-face")  # fmt: skip
    assert result.status == 2
    [line] = result.error_lines
    assert line.startswith(
        f"tpsmm animate: error: {photo}: the face in the source image is too small for "
        "--crop-face (about "
    ), line
    assert line.endswith(
        " pixels wide; faces are found from about 45 pixels): use a larger image, or crop it "
        "yourself and leave out --crop-face"
    ), line


def test_two_faces_in_the_source_the_largest_is_animated_with_a_note(tmp_path):
    import warnings

    from tpsmm.animation.source import source_face_box
    from tpsmm.errors import TPSMMNotice
    from tpsmm.faces.tracking import default_finder

    canvas = np.full((300, 600, 3), 128, np.uint8)
    canvas[50:250, 350:550] = sample_face(200)  # the smaller one first, on the right
    canvas[20:276, 0:256] = sample_face(256)
    with pytest.warns(TPSMMNotice, match=r"^two\.png: 2 faces in the source image; --crop-face "
                      r"animates the largest \(about \d+ pixels wide, centred at \d+,\d+\); to "
                      "animate another, crop the image around it$"):  # fmt: skip
        box = source_face_box(canvas, default_finder(), "two.png")
    assert box.bounds[2] < 300  # the face on the left
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # one face: no note
        source_face_box(canvas[:, :300].copy(), default_finder(), "one.png")


def test_no_face_in_the_driving_video_is_one_line(run_cli, tiny_checkpoint, tmp_path):
    video = write_video(tmp_path / "wall.mp4", [np.full((64, 64, 3), 90, np.uint8)] * 3)
    result = run_cli("animate", "--source", SAMPLE_SOURCE, "--driving", video, "--checkpoint",
                     tiny_checkpoint, "--output", tmp_path / "o.mp4", "--crop-face")  # fmt: skip
    assert result.status == 2 and "no face found in any frame" in result.err
    assert len(result.error_lines) == 1


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_part_of_a_video_and_a_motion_file_of_all_of_it_give_the_same_frames(
    run_cli, tiny_checkpoint, portrait, tmp_path, dtype
):
    """A motion file of the whole video animated with --max-frames gives the frames of
    the video animated with --max-frames: the crops are smoothed over time (zero phase),
    so a frame's crop depends on the frames after it, and the face is followed past the
    last frame animated by the smoothing's reach (it stopped there, and the last crops
    differed by a fraction of a pixel: frames 1-3 levels apart)."""
    from tpsmm.animation.driving import driving_face_boxes
    from tpsmm.faces.tracking import default_finder

    photo, video = portrait  # 12 frames, FRAMES of them animated
    motion = tmp_path / "all.npz"
    options = ["--crop-face", "--dtype", dtype, "--batch-size", 2]
    result = run_cli("motion", "--driving", video, "--checkpoint", tiny_checkpoint, "--out",
                     motion, *options)  # fmt: skip
    assert result.status == 0, result.err
    with VideoReader(video) as reader:
        part = driving_face_boxes(reader, default_finder(), max_frames=FRAMES)
    np.testing.assert_array_equal(part, load_motion(motion).boxes[:FRAMES])
    from_motion, from_video = tmp_path / "a", tmp_path / "b"
    animate(run_cli, tiny_checkpoint, photo, motion, from_motion, *options)
    animate(run_cli, tiny_checkpoint, photo, video, from_video, *options)
    np.testing.assert_array_equal(read_png_folder(from_motion), read_png_folder(from_video))
