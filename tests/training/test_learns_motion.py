"""Training learns motion: a short run on synthetic videos lowers the flow error."""

from __future__ import annotations

import pytest
import torch

from tpsmm import TPSMM, load_model
from tpsmm.config import preset
from tpsmm.data import build_dataset
from tpsmm.evaluation.motion import benchmark_motion
from tpsmm.synthetic import RenderParams, write_dataset
from tpsmm.training.generator import train_generator
from tpsmm.training.loop import RunOptions

SIZE = 64


@pytest.mark.slow
def test_a_short_run_lowers_the_flow_error(tmp_path):
    params = RenderParams(frame_size=SIZE, num_frames=8, margin_pixels=10, num_points=4)
    write_dataset(tmp_path / "train", 24, seed=11, params=params, test_fraction=0.0)
    write_dataset(tmp_path / "test", 6, seed=12, params=params, test_fraction=1.0)
    config = preset("demo").replace(
        **{
            "dataset_params.root_dir": str(tmp_path / "train"),
            "dataset_params.frame_shape": [SIZE, SIZE, 3],
            "model_params.dense_motion_params.num_blocks": 3,
            "train_params.batch_size": 4,
            "train_params.num_repeats": 1,
            "train_params.num_epochs": 100,
            "train_params.dataloader_workers": 0,
        }
    )
    test_set = build_dataset(
        {"root_dir": str(tmp_path / "test"), "frame_shape": [SIZE, SIZE, 3]}, is_train=False
    )
    torch.manual_seed(0)
    before = benchmark_motion(TPSMM(config), test_set, tmp_path / "before", grid_videos=0)
    summary = train_generator(
        config, RunOptions(out_dir=tmp_path / "run", max_steps=120, progress=False, seed=1)
    )
    after = benchmark_motion(
        load_model(summary.checkpoint), test_set, tmp_path / "after", grid_videos=0
    )
    # Untrained, the flow is much worse than no motion at all (EPE 1.8x the identity's
    # measured on an AMD EPYC, AVX2); 120 steps of batch 4 take away a good part of that
    # error on videos the run never saw (measured: EPE 0.59x the untrained one's, 1.05x
    # the identity's). The bounds leave room for other CPUs' rounding and thread counts.
    assert before["overall"]["epe_ratio"] > 1.3
    assert after["overall"]["epe"] < 0.75 * before["overall"]["epe"]
    assert after["overall"]["epe_ratio"] < 1.2
    assert after["overall"]["l1"] < 0.5 * before["overall"]["l1"]
