"""The model the export tests share: the one tiny test model (tests/tiny_model.py) with
its background predictor, made to move."""

from __future__ import annotations

import torch

import tpsmm
from tiny_model import tiny_model


def tiny_export_model() -> tpsmm.TPSMM:
    """:func:`tiny_model.tiny_model` with a background predictor whose matrices are not
    the identity (its initial fc gives exactly the identity, which would hide it)."""
    model = tiny_model(bg=True)
    with torch.no_grad():
        fc = model.bg_predictor.bg_encoder.fc
        fc.weight.normal_(0, 0.002, generator=torch.Generator().manual_seed(1))
    return model
