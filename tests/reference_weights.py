"""The reference weights, generated once and cached (shared by the tests and benchmarks).

``tests/reference/make_reference_weights.py`` (the fixtures' generator, as shipped with
them) writes a 350 MB checkpoint in the authors' layout and 80 MB of VGG-19 weights.
They go into a cache folder outside the repository (``$TPSMM_TEST_CACHE`` or
``<tmp>/tpsmm-test-cache``), keyed by the script's hash, and are reused across runs;
they are never committed. The authors' outputs for them are in ``tests/reference/`` (see
its README), so every clone runs the parity tests. No pytest here: the benchmarks import
this module too.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

#: The parity references shipped with the tests (see ``tests/reference/README.md``).
REFERENCE = Path(__file__).resolve().parent / "reference"
WEIGHTS_SCRIPT = REFERENCE / "make_reference_weights.py"


def cache_dir() -> Path:
    """The cache folder for the current version of the reference script (created)."""
    root = Path(
        os.environ.get("TPSMM_TEST_CACHE", Path(tempfile.gettempdir()) / "tpsmm-test-cache")
    )
    digest = hashlib.sha256(WEIGHTS_SCRIPT.read_bytes()).hexdigest()[:12]
    folder = root / digest
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def reference_weights() -> tuple[Path, Path]:
    """``(checkpoint, vgg19)``: the cached reference files, made on first use.

    The script writes to temporary names that are then renamed, so concurrent processes
    never read a half-written file.
    """
    folder = cache_dir()
    checkpoint, vgg = folder / "reference.pth.tar", folder / "vgg19.pth"
    if not checkpoint.exists() or not vgg.exists():
        suffix = f".{os.getpid()}.partial"
        command = [sys.executable, str(WEIGHTS_SCRIPT), str(checkpoint) + suffix]
        subprocess.run([*command, "--vgg", str(vgg) + suffix], check=True)
        os.replace(str(checkpoint) + suffix, checkpoint)
        os.replace(str(vgg) + suffix, vgg)
    return checkpoint, vgg
