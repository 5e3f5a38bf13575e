"""Derive the compact parity fixture of this folder from the full one.

    python tests/reference/compact.py ../shared/reference/parity_vox256.npz

``../shared/reference/parity_vox256.npz`` (16 MB: six driving frames, every prediction at
full size) holds what the authors' code computed with the reference weights. The tests
need its cases, not all its frames: the six driving frames move the reference keypoints
by 1e-4 or less from one another (random weights), so frames 0 (the relative mode's
reference) and 1 (the one with the most motion, and the frame of the ``standard_f1_*``
dense-motion outputs) cover what the others do. Kept, at full size and unchanged:

* ``source``, ``driving`` frames 0 and 1, their keypoints and relative keypoints;
* every ``standard_f1_*`` dense-motion output;
* ``pred_relative`` for frames 0 and 1; ``pred_standard`` and ``pred_reconstruction``
  for frame 1 (frame 0 of those is the source animated, or reconstructed, by itself);
  ``*_index`` says which of the kept frames each holds; ``bg_param`` for both;
* the whole ``explicit_*`` case (three pairs far from the identity).

Written with ``numpy.savez_compressed``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DRIVING = [0, 1]
KEPT = {"pred_relative": [0, 1], "pred_standard": [1], "pred_reconstruction": [1]}


def compact(full: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The compact arrays from the full fixture's."""
    out: dict[str, np.ndarray] = {}
    for key, value in full.items():
        if key in ("driving", "kp_driving", "kp_norm_relative"):
            out[key] = value[DRIVING]
        elif key in KEPT:
            rows = [DRIVING[i] for i in KEPT[key]]
            out[key] = value[rows]
            out[f"{key}_index"] = np.asarray(KEPT[key], dtype=np.int64)
        elif key == "bg_param":
            out[key] = value[DRIVING]
        else:
            out[key] = value
    return out


def main() -> None:
    source = Path(sys.argv[1])
    with np.load(source) as data:
        arrays = compact({key: data[key] for key in data.files})
    np.savez_compressed(HERE / "parity_vox256.npz", **arrays)


if __name__ == "__main__":
    main()
