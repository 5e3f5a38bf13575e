"""Frames above the model's size (``resolution``): which sizes, and the source kept for them.

The model animates at its frame size S; with a resolution N above S every frame is
rendered at N x N by :func:`tpsmm.highres.render` from the source at its own resolution
(on PyTorch, or by the ``render`` graph of an ONNX export). The policy both backends
share is here:

* N = S gives the model's frames as they are (bit for bit the frames without a
  resolution); N < S is refused by the animators (the renderer adds detail only above
  S), and the video pipeline animates at S and resizes (plain anti-aliased downsampling,
  :mod:`tpsmm.media.fit`), so ``tpsmm animate --resolution N`` takes any N.
* The source is kept at its own resolution up to N x N: a larger one is reduced to N x N
  (Pillow's anti-aliased bicubic filter: sampled at N's pixel spacing, a larger image
  would alias); a smaller one is kept as it is and the renderer interpolates it
  (bicubic), so above the source's resolution the frames are as sharp as the source,
  not sharper.
* ``auto`` (the default of ``--crop-face --paste-back``): the side, in the image's own
  pixels, of the square the model animates, at most :data:`AUTO_LIMIT`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.highres import frame_grid
from tpsmm.media import to_uint8
from tpsmm.media.fit import fit_frame
from tpsmm.media.tensors import check_frames

#: ``resolution="auto"``: the source's own resolution.
AUTO = "auto"
#: ``resolution="model"``: the model's frame size (frames as the model makes them).
MODEL = "model"
#: The largest side ``auto`` chooses: rendering costs in proportion to the pixels (about
#: a third of a second per frame at 1024 x 1024 on two CPU cores; benchmarks/RESULTS.md).
AUTO_LIMIT = 1024
#: The largest side asked for explicitly (a 4096 x 4096 frame is 200 MB of float32 per
#: batch row in the renderer).
MAX_RESOLUTION = 4096

Resolution = int | str | None


def check_resolution(value: Resolution) -> Resolution:
    """``value`` if it is None, ``"auto"``, ``"model"`` or a whole number from 2 to
    :data:`MAX_RESOLUTION` (a string of digits is read as one), else a one-line error."""
    if value is None or value in (AUTO, MODEL):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if not whole or not 2 <= value <= MAX_RESOLUTION:
        raise TPSMMError(
            f"resolution must be a whole number of pixels from 2 to {MAX_RESOLUTION}, "
            f"'{AUTO}' or '{MODEL}', got {value!r}"
        )
    return int(value)


def resolve_resolution(value: Resolution, model_size: int, native: float) -> int:
    """The output side in pixels for a checked ``value``: the model's size for None or
    ``"model"``, ``native`` (the source square's side in its image's pixels, rounded) at
    most :data:`AUTO_LIMIT` for ``"auto"``, else ``value``."""
    value = check_resolution(value)
    if value is None or value == MODEL:
        return model_size
    if value == AUTO:
        return max(2, min(AUTO_LIMIT, round(native)))
    assert isinstance(value, int)
    return value


@dataclass(frozen=True)
class RenderTarget:
    """What the renderer needs of a source for frames at N x N, prepared once.

    Attributes:
        size: N; model_size: S.
        source: (1, 3, h, w) float32 in [0, 1], the source at its own resolution, at
            most N x N (see the module docstring).
        points: (1, N, N, 2) float32, the output pixels in frame coordinates
            (:func:`tpsmm.highres.frame_grid`).
        source_box: (4,) float32, the frame coordinates the source covers (the model's
            square).
    """

    size: int
    model_size: int
    source: np.ndarray
    points: np.ndarray
    source_box: np.ndarray


def render_target(image: np.ndarray, resolution: int, model_size: int) -> RenderTarget | None:
    """The :class:`RenderTarget` of a source image (H, W, 3) uint8 or float in [0, 1]
    (the square the model animates, at any size; a non-square one is stretched as
    ``--fit stretch`` does) for frames at ``resolution``; None when that is the model's
    size. An image reduced to N x N goes through uint8.

    Raises:
        TPSMMError: a resolution below the model's size.
    """
    if resolution == model_size:
        return None
    if resolution < model_size:
        raise TPSMMError(
            f"resolution {resolution} is below the model's frame size {model_size}: the "
            "renderer only adds detail above it (resize the frames instead)"
        )
    height, width = image.shape[:2]
    kept = np.asarray(image)
    if height > resolution or width > resolution:
        kept = fit_frame(to_uint8(kept), resolution, "stretch")
    source = np.ascontiguousarray(kept.transpose(2, 0, 1)[None], dtype=np.float32)
    if kept.dtype == np.uint8:
        source /= 255
    points = frame_grid(resolution, resolution).numpy()
    box = np.array([-1.0, -1.0, 1.0, 1.0], np.float32)
    return RenderTarget(resolution, model_size, source, points, box)


def model_source(image: np.ndarray, model_size: int) -> np.ndarray:
    """The source as the model sees it, (S, S, 3): the image as it is when already S x S,
    else resized (stretched, anti-aliased) to uint8."""
    if image.shape[:2] == (model_size, model_size):
        return image
    return fit_frame(to_uint8(np.asarray(image)), model_size, "stretch")


def animator_source(
    source: Any, resolution: Resolution, model_size: int
) -> tuple[Any, RenderTarget | None]:
    """What an animator (of either backend) takes of the ``source`` it is given.

    Without a resolution the source must be one (S, S, 3) frame at the model's size S
    and is returned checked, with no target. With one, any size is taken: the source as
    the model sees it (:func:`model_source`) and the :class:`RenderTarget` of the
    resolution (None at S).

    Raises:
        TPSMMError: a source the checks of :func:`tpsmm.media.tensors.check_frames`
            refuse, a bad resolution or one below S.
    """
    if check_resolution(resolution) is None:
        return check_frames(source, "source", size=model_size, single=True), None
    image = check_frames(source, "source", single=True)
    image = np.asarray(image[0] if image.ndim == 4 else image)
    size = resolve_resolution(resolution, model_size, max(image.shape[:2]))
    target = render_target(image, size, model_size)
    return model_source(image, model_size), target
