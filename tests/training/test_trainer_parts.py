"""The training loop's parts: sampler, loss log, visualisation, random-state snapshots,
process context."""

from __future__ import annotations

import csv
import io
import random
import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from tpsmm.errors import ConfigError, DatasetError, TPSMMError
from tpsmm.training import loop as loop_module
from tpsmm.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    convert_sync_batchnorm,
    init_distributed,
    wrap_ddp,
)
from tpsmm.training.logging import LossLog
from tpsmm.training.random_state import restore_rng, rng_snapshot
from tpsmm.training.visualize import draw_keypoints, generator_rows, grid_image, keypoint_colors

# ----------------------------------------------------------------------------- sampler


def _epoch(sampler: GlobalBatchSampler, epoch: int, skip: int = 0) -> list[list[int]]:
    sampler.set_epoch(epoch, skip)
    return list(sampler)


def test_global_batches_do_not_depend_on_the_number_of_ranks():
    single = _epoch(GlobalBatchSampler(23, 4, seed=7), 3)
    assert len(single) == 5  # 23 // 4, the incomplete batch dropped
    ranks = [_epoch(GlobalBatchSampler(23, 4, rank=r, world_size=2, seed=7), 3) for r in (0, 1)]
    for step, batch in enumerate(single):
        assert ranks[0][step] + ranks[1][step] == batch  # contiguous chunks, in rank order
    flat = [i for batch in single for i in batch]
    assert len(set(flat)) == 20 and set(flat) <= set(range(23))


def test_epochs_are_reproducible_and_differ():
    sampler = GlobalBatchSampler(40, 4, seed=1)
    assert _epoch(sampler, 2) == _epoch(GlobalBatchSampler(40, 4, seed=1), 2)
    assert _epoch(sampler, 2) != _epoch(sampler, 3)
    assert _epoch(sampler, 2) != _epoch(GlobalBatchSampler(40, 4, seed=2), 2)
    whole = _epoch(sampler, 2)
    assert _epoch(sampler, 2, skip=3) == whole[3:]
    assert len(sampler) == 10 - 3
    unshuffled = GlobalBatchSampler(8, 4, shuffle=False)
    assert _epoch(unshuffled, 5) == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_sampler_errors():
    with pytest.raises(ConfigError, match="divisible"):
        GlobalBatchSampler(10, 3, world_size=2)
    with pytest.raises(DatasetError, match="fewer than one batch"):
        GlobalBatchSampler(3, 4)
    with pytest.raises(ValueError):
        GlobalBatchSampler(8, 4).set_epoch(0, skip_batches=3)


# ----------------------------------------------------------------------------- loss log


def _rows(path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open() as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def test_loss_log_adds_columns_and_truncates_on_resume(tmp_path):
    with LossLog(tmp_path, ["perceptual", "warp_loss"], tensorboard=False) as log:
        log.log(0, 1, {"perceptual": 2.0, "warp_loss": 1.0}, 2e-4, 0.5)
        log.log(1, 2, {"perceptual": 1.5, "warp_loss": 1.0, "bg": 0.25}, 2e-5, 1.0)
        log.log(1, 3, {"perceptual": 1.0, "warp_loss": 1.0, "bg": 0.25}, 2e-5, 1.5)
    header, rows = _rows(tmp_path / "log.csv")
    assert header == ["epoch", "step", "perceptual", "warp_loss", "bg", "total", "lr", "time"]
    assert rows[0]["bg"] == "" and float(rows[1]["total"]) == pytest.approx(2.75)
    assert [float(r["lr"]) for r in rows] == [2e-4, 2e-5, 2e-5]

    with LossLog(tmp_path, ["perceptual", "warp_loss"], resume_step=2, tensorboard=False) as log:
        log.log(1, 3, {"perceptual": 0.5, "warp_loss": 1.0, "bg": 0.0}, 2e-5, 1.5)
    header, rows = _rows(tmp_path / "log.csv")
    assert "bg" in header and [r["step"] for r in rows] == ["1", "2", "3"]
    assert rows[2]["perceptual"] == "0.5"

    with LossLog(tmp_path, ["perceptual"], tensorboard=False):
        pass  # a new run replaces the file
    assert _rows(tmp_path / "log.csv")[1] == []


# ----------------------------------------------------------------------------- visuals


def test_keypoints_are_drawn_in_rainbow_colours():
    colours = keypoint_colors(4)
    assert colours[0] == (255, 0, 0) and len(set(colours)) == 4
    image = np.zeros((21, 21, 3), dtype=np.uint8)
    drawn = draw_keypoints(image, np.array([[-1.0, -1.0], [0.0, 0.0]]), radius=1)
    assert tuple(drawn[0, 0]) == colours[0] and tuple(drawn[10, 10]) == keypoint_colors(2)[1]
    assert drawn[5, 5].sum() == 0 and image.sum() == 0


def test_generator_grid_layout():
    batch = 3
    generated = {
        "kp_source": torch.zeros(batch, 10, 2),
        "kp_driving": torch.zeros(batch, 10, 2),
        "deformed": torch.rand(batch, 3, 16, 16),
        "occlusion_maps": [torch.rand(batch, 1, s, s) for s in (2, 4, 8, 16)],
        "prediction": torch.rand(batch, 3, 16, 16),
    }
    rows = generator_rows(torch.rand(batch, 3, 16, 16), torch.rand(batch, 3, 16, 16), generated)
    image = grid_image(rows, kp_size=1, draw_border=True, max_samples=2)
    assert image.shape == (8 * 16, 2 * 16, 3) and image.dtype == np.uint8
    assert (image[0] == 255).all()  # border
    mask_cell = image[3 * 16 + 1 : 4 * 16 - 1, 1:15]
    assert (mask_cell[..., 0] == mask_cell[..., 1]).all()  # masks are grey


# ----------------------------------------------------------------------------- state


def test_random_state_snapshot_round_trip():
    private = torch.Generator().manual_seed(3)
    snapshot = rng_snapshot(private, torch.device("cpu"))
    buffer = io.BytesIO()
    torch.save(snapshot, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    expected = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=private))
    torch.rand(5), np.random.rand(5), random.random(), torch.rand(4, generator=private)
    restore_rng(loaded, private, torch.device("cpu"))
    again = (torch.rand(3), np.random.rand(3), random.random(), torch.rand(2, generator=private))
    torch.testing.assert_close(again[0], expected[0])
    np.testing.assert_array_equal(again[1], expected[1])
    assert again[2] == expected[2]
    torch.testing.assert_close(again[3], expected[3])


def test_worker_error_messages_become_one_line():
    error = DatasetError(
        "Caught DatasetError in DataLoader worker process 0.\nOriginal Traceback (most recent "
        'call last):\n  File "x.py", line 1\ntpsmm.errors.DatasetError: v.mp4: broken video\n'
    )
    assert loop_module._one_line(error) == "v.mp4: broken video"
    assert loop_module._one_line(DatasetError("plain")) == "plain"


# ----------------------------------------------------------------------------- processes


def test_single_process_context(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = init_distributed("cpu")
    assert not ctx.distributed and ctx.is_main and ctx.device == torch.device("cpu")
    module = nn.Linear(2, 2)
    assert wrap_ddp(module, ctx, find_unused_parameters=False) is module
    assert ctx.per_rank_batch(28) == 28
    with pytest.raises(ConfigError, match="divisible"):
        DistContext(world_size=3).per_rank_batch(28)
    with pytest.raises(TPSMMError, match="SyncBatchNorm"):
        convert_sync_batchnorm(module, ctx)
    with pytest.raises(TPSMMError, match="unknown device"):
        init_distributed("tpu-9000")


def test_tensorboard_scalars_when_installed(tmp_path, monkeypatch):
    """With ``torch.utils.tensorboard`` importable, each step also goes to TensorBoard."""
    calls: list[tuple] = []

    class Writer:
        def __init__(self, log_dir: str):
            calls.append(("init", log_dir))

        def add_scalar(self, tag: str, value: float, step: int) -> None:
            calls.append((tag, value, step))

        def close(self) -> None:
            calls.append(("close",))

    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = Writer  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    with LossLog(tmp_path, ["perceptual"]) as log:
        log.log(0, 7, {"perceptual": 1.5}, 1e-3, 0.1)
    assert calls[0] == ("init", str(tmp_path / "tensorboard"))
    assert ("loss/perceptual", 1.5, 7) in calls and ("loss/total", 1.5, 7) in calls
    assert ("lr", 1e-3, 7) in calls and calls[-1] == ("close",)
