"""The tiny model the export tests share, and its export (made once per session)."""

from __future__ import annotations

import torch

import tpsmm

# 64x64, 2 TPS, narrow hourglasses; the ResNet-18s (keypoints, background) keep their size.
TINY_EXPORT_CHANGES = {
    "model_params.common_params.num_tps": 2,
    "model_params.generator_params.block_expansion": 8,
    "model_params.generator_params.max_features": 32,
    "model_params.dense_motion_params.block_expansion": 8,
    "model_params.dense_motion_params.max_features": 32,
    "model_params.dense_motion_params.num_blocks": 3,
    "default_frame_size": 64,
}


def tiny_export_model() -> tpsmm.TPSMM:
    """A seeded random model with a background predictor whose matrices are not the
    identity (its initial fc gives exactly the identity, which would hide it)."""
    torch.manual_seed(0)
    model = tpsmm.TPSMM(tpsmm.load_config("vox-256").replace(**TINY_EXPORT_CHANGES)).eval()
    with torch.no_grad():
        fc = model.bg_predictor.bg_encoder.fc
        fc.weight.normal_(0, 0.002, generator=torch.Generator().manual_seed(1))
    return model
