"""Still images: every mode to RGB uint8, EXIF orientation, errors, saving."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from media_helpers import DRIVING_MP4, SOURCE_PNG
from PIL import Image

from tpsmm.errors import MediaError
from tpsmm.media import load_image, probe, save_image
from tpsmm.media.image import heif_brand


def test_bundled_source_is_rgb_uint8() -> None:
    image = load_image(SOURCE_PNG)
    assert image.shape == (676, 680, 3)
    assert image.dtype == np.uint8
    assert image.flags.c_contiguous


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    pixels = np.zeros((20, 40, 3), dtype=np.uint8)  # 40 wide, 20 high
    pixels[:8, :8] = 255  # white marker at the top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    path = tmp_path / "rotated.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)

    image = load_image(path)

    assert image.shape == (40, 20, 3)  # now 20 wide, 40 high
    assert image[:8, -8:].mean() > 200  # marker at the top-right after turning clockwise
    assert image[:8, :8].mean() < 50


def test_rgba_is_composited_over_white(tmp_path: Path) -> None:
    rgba = np.zeros((4, 4, 4), dtype=np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)  # opaque red
    rgba[0, 1] = (0, 0, 0, 0)  # fully transparent
    rgba[0, 2] = (0, 0, 0, 128)  # half-transparent black
    path = tmp_path / "alpha.png"
    Image.fromarray(rgba, mode="RGBA").save(path)

    image = load_image(path)

    assert image.shape == (4, 4, 3)
    assert tuple(image[0, 0]) == (255, 0, 0)
    assert tuple(image[0, 1]) == (255, 255, 255)
    assert all(abs(int(value) - 127) <= 1 for value in image[0, 2])


def test_greyscale_with_alpha_is_composited(tmp_path: Path) -> None:
    path = tmp_path / "la.png"
    Image.new("LA", (3, 2), (0, 0)).save(path)
    assert (load_image(path) == 255).all()


def test_greyscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    grey = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    path = tmp_path / "grey.png"
    Image.fromarray(grey, mode="L").save(path)

    image = load_image(path)

    assert image.shape == (3, 4, 3)
    for channel in range(3):
        np.testing.assert_array_equal(image[:, :, channel], grey)


def test_palette_images_with_and_without_transparency(tmp_path: Path) -> None:
    palette_image = Image.new("P", (2, 1))
    palette_image.putpalette([10, 20, 30, 200, 100, 0] + [0] * 762)
    palette_image.putpixel((0, 0), 0)
    palette_image.putpixel((1, 0), 1)
    plain = tmp_path / "palette.png"
    palette_image.save(plain)
    keyed = tmp_path / "palette-transparent.png"
    palette_image.save(keyed, transparency=1)

    np.testing.assert_array_equal(load_image(plain)[0], [[10, 20, 30], [200, 100, 0]])
    np.testing.assert_array_equal(load_image(keyed)[0], [[10, 20, 30], [255, 255, 255]])


def test_sixteen_bit_greyscale_is_scaled(tmp_path: Path) -> None:
    values = np.array([[0, 32896, 65535]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)

    image = load_image(path)

    np.testing.assert_array_equal(image[0, :, 0], [0, 128, 255])
    assert image.dtype == np.uint8


def test_cmyk_becomes_rgb(tmp_path: Path) -> None:
    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(path)  # red in CMYK
    image = load_image(path)
    assert image.shape == (8, 8, 3)
    assert image[..., 0].mean() > 200 and image[..., 1:].mean() < 60


def test_other_formats_read(tmp_path: Path) -> None:
    pixels = np.full((6, 5, 3), (30, 60, 90), dtype=np.uint8)
    for suffix in (".bmp", ".webp", ".tif", ".gif"):
        path = tmp_path / f"image{suffix}"
        Image.fromarray(pixels).save(path, **({"lossless": True} if suffix == ".webp" else {}))
        image = load_image(path)
        assert image.shape == (6, 5, 3), suffix
        assert np.abs(image.astype(int) - pixels).max() <= 4, suffix


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.png"
    with pytest.raises(MediaError, match="no such file") as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="is a directory") as info:
        load_image(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_video_given_as_image_by_suffix() -> None:
    with pytest.raises(MediaError, match="is a video, not an image") as info:
        load_image(DRIVING_MP4)
    assert str(DRIVING_MP4) in str(info.value)


def test_video_given_as_image_by_content(tmp_path: Path) -> None:
    disguised = tmp_path / "face.png"
    shutil.copy(DRIVING_MP4, disguised)
    with pytest.raises(MediaError, match="is a video, not an image") as info:
        load_image(disguised)
    assert str(disguised) in str(info.value)


def test_animated_gif_is_not_a_still_image(tmp_path: Path) -> None:
    path = tmp_path / "animated.gif"
    frames = [Image.new("RGB", (4, 4), (level, 0, 0)) for level in (0, 120, 240)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40)
    with pytest.raises(MediaError, match="animated image") as info:
        load_image(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("content", [b"", b"hello, this is not an image\n"])
def test_non_image_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.png"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="not an image") as info:
        load_image(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_truncated_image(tmp_path: Path) -> None:
    path = tmp_path / "truncated.png"
    path.write_bytes(SOURCE_PNG.read_bytes()[:5000])
    with pytest.raises(MediaError) as info:
        load_image(path)
    assert str(path) in str(info.value)


def test_save_image_round_trip_uint8_and_float(tmp_path: Path) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    save_image(tmp_path / "a.png", pixels)
    save_image(tmp_path / "b.png", pixels.astype(np.float32) / 255.0)
    np.testing.assert_array_equal(load_image(tmp_path / "a.png"), pixels)
    np.testing.assert_array_equal(load_image(tmp_path / "b.png"), pixels)
    assert sorted(entry.name for entry in tmp_path.iterdir()) == ["a.png", "b.png"]


def test_save_image_errors(tmp_path: Path) -> None:
    pixels = np.zeros((2, 2, 3), dtype=np.uint8)
    with pytest.raises(MediaError, match="unknown image suffix"):
        save_image(tmp_path / "image.xyz", pixels)
    with pytest.raises(MediaError, match="does not exist"):
        save_image(tmp_path / "missing" / "image.png", pixels)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        save_image(tmp_path / "image.png", np.zeros((2, 2), dtype=np.uint8))


def test_probe_kinds(tmp_path: Path) -> None:
    disguised = tmp_path / "clip.bin"
    shutil.copy(DRIVING_MP4, disguised)
    assert probe(SOURCE_PNG) == "image"
    assert probe(DRIVING_MP4) == "video"
    assert probe(disguised) == "video"
    shutil.copy(DRIVING_MP4, tmp_path / "clip.png")
    assert probe(tmp_path / "clip.png") == "video"
    assert probe(tmp_path) == "folder"
    still, animated = tmp_path / "still.gif", tmp_path / "animated.gif"
    frames = [Image.new("RGB", (4, 4), (level, 0, 0)) for level in (0, 240)]
    frames[0].save(still)
    frames[0].save(animated, save_all=True, append_images=frames[1:], duration=40)
    assert probe(still) == "image"
    assert probe(animated) == "video"
    with pytest.raises(MediaError, match="no such file"):
        probe(tmp_path / "missing.mp4")
    (tmp_path / "notes.txt").write_text("text")
    with pytest.raises(MediaError, match="neither an image nor a video"):
        probe(tmp_path / "notes.txt")


def test_heif_photo_is_named_as_such(tmp_path):
    """A phone's HEIC photo is a HEIF image Pillow cannot read without a plugin: said so
    (FFmpeg opens such files, and they were reported as "a video, not an image")."""
    photo = tmp_path / "IMG_0001.HEIC"
    photo.write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
    with pytest.raises(MediaError, match=r"is a HEIF image \(brand heic.*pillow-heif"):
        load_image(photo)
    assert heif_brand(photo) == "heic"
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(64))
    assert heif_brand(video) is None
