"""The Python API refuses what the model cannot take, with one TPSMMError naming the
input and what is wrong: tpsmm.animate, tpsmm.Animator (and the onnxruntime animator
alike, tests/export)."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import tpsmm
from tpsmm.errors import TPSMMError

SIZE = 64  # the tiny model's
SAMPLE = Path(tpsmm.__file__).parent / "assets" / "driving.mp4"


def frames(count: int = 3, size: int = SIZE) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (count, size, size, 3), dtype=np.uint8)


SOURCE = frames(1)[0]
DRIVING = frames()


@pytest.mark.parametrize(
    ("source", "driving", "message"),
    [
        (SOURCE, DRIVING[0], r"driving must be \(T, H, W, 3\) frames.*\(one frame: give frame\[None\]\)"),
        (SOURCE, DRIVING[:0], "driving has no frames"),
        (SOURCE, None, "driving is None"),
        (None, DRIVING, "source is None"),
        ("face.png", DRIVING, r"source is a path \('face.png'\), not frames"),
        (SOURCE, Path("talk.mp4"), r"driving is a path \('talk.mp4'\)"),
        (SOURCE, [[0, 1]], "driving must be a numpy array or a torch tensor, got list"),
        (frames(1, 80)[0], DRIVING, "source is 80x80 but the model takes 64x64"),
        (SOURCE, frames(2, 96), "driving frames are 96x96 but the model takes 64x64"),
        (SOURCE, DRIVING[..., :1], r"got shape \(3, 64, 64, 1\)"),
        (SOURCE, DRIVING.astype(np.int64), "driving must be uint8 .* got int64"),
        (SOURCE, DRIVING.astype(bool), "got bool"),
        (SOURCE, DRIVING.astype(np.float32), "driving is float32 from 0 to 255; float frames must be in"),
        (SOURCE.astype(np.float64) * 2 / 255 - 1, DRIVING, "source is float64 from -1 to 1"),
        (SOURCE, np.full(DRIVING.shape, np.nan, np.float32), "not finite"),
        (SOURCE, torch.from_numpy(DRIVING).float(), "driving is float32 from 0 to 255"),
    ],
)  # fmt: skip
def test_animate_refuses_what_the_model_cannot_take(tiny_model, source, driving, message):
    with pytest.raises(TPSMMError, match=message):
        tpsmm.animate(tiny_model, source, driving)


def test_animate_takes_uint8_and_float_frames_alike(tiny_model):
    as_uint8 = tpsmm.animate(tiny_model, SOURCE, DRIVING, batch_size=2)
    scaled = (SOURCE.astype(np.float32) / 255, DRIVING.astype(np.float32) / 255)
    as_float = tpsmm.animate(tiny_model, *scaled, batch_size=2)  # what uint8 becomes
    as_tensor = tpsmm.animate(
        tiny_model, torch.from_numpy(SOURCE), torch.from_numpy(DRIVING), batch_size=2
    )
    assert as_uint8.shape == (3, SIZE, SIZE, 3) and as_uint8.dtype == np.float32
    np.testing.assert_array_equal(as_float, as_uint8)
    np.testing.assert_array_equal(as_tensor, as_uint8)
    with pytest.raises(TPSMMError, match="batch size must be a positive whole number"):
        tpsmm.animate(tiny_model, SOURCE, DRIVING, batch_size=0)


def test_animator_checks_its_source_reference_and_batches(tiny_model):
    with pytest.raises(TPSMMError, match="source is 80x80"):
        tpsmm.Animator(tiny_model, frames(1, 80)[0])
    animator = tpsmm.Animator(tiny_model, SOURCE)
    with pytest.raises(TPSMMError, match="reference frame is float64 from 0 to 255"):
        animator.set_reference(SOURCE.astype(np.float64))
    with pytest.raises(TPSMMError, match="driving frames are 96x96"):
        animator.animate(frames(2, 96))
    assert animator.animate(DRIVING[0]).shape == (1, SIZE, SIZE, 3)  # one frame: a batch


def test_read_only_frames_raise_no_warning(tiny_model):
    """Arrays numpy may not write (np.asarray of a PIL image, as PyAV's to_image gives)
    reach torch without its "not writable" warning."""
    with av.open(str(SAMPLE)) as container:
        frame = next(container.decode(video=0))
        image = np.asarray(frame.reformat(width=SIZE, height=SIZE).to_image())
    assert not image.flags.writeable
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = tpsmm.animate(tiny_model, image, image[None])
        tpsmm.Animator(tiny_model, image).animate(image[None])
    assert out.shape == (1, SIZE, SIZE, 3)
