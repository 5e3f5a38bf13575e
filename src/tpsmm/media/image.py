"""Reading and writing still images as (H, W, 3) uint8 RGB arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from tpsmm.files import atomic_path
from tpsmm.media._common import (
    GIF_SUFFIX,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    PathLike,
    check_rgb_frame,
    describe_error,
    media_error,
    to_uint8,
)
from tpsmm.media.probe import ffmpeg_sees_video

# Colour that transparent pixels are composited over, on purpose: the authors' demo
# dropped the alpha channel and kept whatever colour transparent pixels store (often
# black or stray colours), which the model then animates as background; white is the
# background of the mgif training data and what viewers show for most cut-outs.
BACKGROUND_RGB: tuple[int, int, int] = (255, 255, 255)

_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def load_image(path: PathLike) -> np.ndarray:
    """Read a still image as an (H, W, 3) uint8 RGB array (values 0..255).

    Any format Pillow reads is accepted (PNG, JPEG, WebP, BMP, TIFF, still GIF, ...).
    The EXIF orientation is applied, transparent images (RGBA, LA, palette with a
    transparent colour) are composited over white, and greyscale, palette, CMYK and
    16-bit images are converted to 8-bit RGB.

    Raises :class:`~tpsmm.errors.MediaError` (naming the file) for a missing path, a
    directory, a video or animated image, or a file that is not a readable image.
    """
    path = Path(path)
    _check_image_path(path)
    try:
        with Image.open(path) as image:
            frames = int(getattr(image, "n_frames", 1))
            if frames > 1:
                raise media_error(
                    path, f"is an animated image ({frames} frames), not a still image"
                )
            image.load()
            return _to_rgb_array(ImageOps.exif_transpose(image))
    except UnidentifiedImageError:
        brand = heif_brand(path)
        if brand is not None:
            if _register_heif():
                return load_image(path)
            raise media_error(
                path,
                f"is a HEIF image (brand {brand}: HEIC, AVIF, a phone's photo), which Pillow "
                "reads only with a plugin: convert it to JPEG or PNG, or pip install pillow-heif",
            ) from None
        if ffmpeg_sees_video(path):
            raise media_error(path, "is a video, not an image") from None
        raise media_error(path, "is not an image file that can be read") from None
    except Image.DecompressionBombError as error:
        raise media_error(path, f"image is too large ({describe_error(error)})") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise media_error(path, f"cannot read image ({describe_error(error)})") from None


#: ISO-BMFF brands of HEIF still images (HEIC, AVIF and the generic ones).
HEIF_BRANDS = frozenset(
    {"heic", "heix", "heim", "heis", "hevc", "hevx", "mif1", "msf1", "avif", "avis"}
)


def heif_brand(path: Path) -> str | None:
    """The brand of a HEIF image file (``heic``, ``mif1``, ``avif``...), else None: an
    ISO-BMFF ``ftyp`` box whose major brand is a still image's, not a video's."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(12)
    except OSError:
        return None
    brand = head[8:12].decode("latin-1").lower()
    return brand if head[4:8] == b"ftyp" and brand in HEIF_BRANDS else None


def _register_heif() -> bool:
    """Let Pillow read HEIF images when the pillow-heif plugin is installed (once)."""
    try:
        import pillow_heif  # type: ignore[import-not-found]
    except ImportError:
        return False
    if getattr(pillow_heif, "_tpsmm_registered", False):
        return False  # registered already, and Pillow still cannot read the file
    pillow_heif.register_heif_opener()
    pillow_heif._tpsmm_registered = True
    return True


def _check_image_path(path: Path) -> None:
    """Raise MediaError for paths that cannot be an image, before opening them."""
    if path.is_dir():
        raise media_error(path, "is a directory, not an image")
    if not path.exists():
        raise media_error(path, "no such file or directory")
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise media_error(path, "is a video, not an image")


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as a C-contiguous (H, W, 3) uint8 RGB array."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        grey = _high_depth_to_uint8(np.asarray(image), image.mode)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if _has_transparency(image):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND_RGB, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.array(image, dtype=np.uint8)


def _has_transparency(image: Image.Image) -> bool:
    """Whether an image has an alpha channel or a transparent palette/colour key."""
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in image.info


def _high_depth_to_uint8(values: np.ndarray, mode: str) -> np.ndarray:
    """A 16-bit, 32-bit integer or float greyscale array as uint8 (H, W).

    16-bit data (and 32-bit integers within 0..65535, which is how Pillow opens 16-bit
    PNGs) are scaled by 255/65535; other integers by 255/max; floats are taken as [0, 1]
    when their maximum is at most 1, else as [0, 255].
    """
    values = values.astype(np.float64)
    if mode == "F":
        scale = 255.0 if values.size and values.max() <= 1.0 else 1.0
    elif mode in _SIXTEEN_BIT_MODES or (values.size == 0 or values.max() <= 65535):
        scale = 255.0 / 65535.0
    else:
        scale = 255.0 / values.max()
    return (np.clip(values * scale, 0.0, 255.0) + 0.5).astype(np.uint8)


def save_image(path: PathLike, image: np.ndarray) -> None:
    """Write an (H, W, 3) RGB image; the format follows the suffix (.png, .jpg, ...).

    ``image`` is uint8 (0..255) or floating point in [0, 1] (clipped). The file is
    written under a temporary name in the same folder and renamed into place, so a
    failed write leaves no partial file. Raises :class:`~tpsmm.errors.MediaError` for a
    suffix that is not an image format or a folder that does not exist.
    """
    path = Path(path)
    check_rgb_frame(image)
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES and suffix != GIF_SUFFIX:
        raise media_error(path, "unknown image suffix; use .png, .jpg, .webp, .bmp or .tif")
    if not path.parent.is_dir():
        raise media_error(path, f"folder {path.parent} does not exist")
    if path.is_dir():
        raise media_error(path, "is a directory")
    try:
        with atomic_path(path) as temporary:
            Image.fromarray(to_uint8(image)).save(temporary)
    except OSError as error:
        raise media_error(path, f"cannot write image ({describe_error(error)})") from None
