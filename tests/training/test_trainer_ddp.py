"""Two torchrun processes (Gloo, CPU) train like one process on the same global batch.

Setup: global batch 4 = 2 ranks x 2. The random TPS of the equivariance loss is drawn for
the global batch from the generator all ranks share (so it does not depend on the number
of ranks); TPS dropout is off (its keep masks come from per-rank generators, so they
differ by design); BatchNorm runs in eval mode, because in train mode each rank
normalises with its own 2-item batch statistics and PyTorch has no SyncBatchNorm on the
CPU (``--sync-bn`` is refused there).

What must hold: the mean of the ranks' loss terms equals one process's terms on the 4
items; the DDP-averaged gradients equal the mean of the gradients one process computes
for the two 2-item chunks; and they equal one process's gradients on the 4 items up to
float32 rounding. (The tiny random model is badly conditioned - InstanceNorm over 2x2 and
1x1 maps - so a few single entries differ by up to ~10% in float32 between batch 4 and
two batches of 2 even in one process; in float64 the two agree to 1e-13. The last check
is therefore on the whole gradient vector.)

Run as a script (``python -m torch.distributed.run --nproc_per_node 2 THIS OUT ROOT``),
this file is the worker.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn
from trainer_helpers import make_dataset, one_thread, random_vgg, tiny_training_config

from tpsmm.checkpoint import read_checkpoint
from tpsmm.training.distributed import DistContext, init_distributed
from tpsmm.training.generator import GeneratorTrainer, train_generator
from tpsmm.training.loop import RunOptions

EPOCH = 0
GLOBAL_BATCH = 4


def _config(root: Path):
    return tiny_training_config(
        root,
        train_params__batch_size=GLOBAL_BATCH,
        train_params__tps_dropout=False,
        train_params__bg_start=0,
    )


def _trainer(root: Path, out: Path, ctx: DistContext) -> GeneratorTrainer:
    """A trainer with BatchNorm in eval mode, set to epoch 0."""
    trainer = GeneratorTrainer(
        _config(root), RunOptions(out, progress=False), ctx, vgg=random_vgg()
    )
    trainer.set_train_mode()
    for module in trainer.model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()
    trainer.dataset.set_epoch(EPOCH)
    trainer.sampler.set_epoch(EPOCH)
    return trainer


def _grads(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}


def one_step(root: Path, out: Path, ctx: DistContext) -> dict:
    """The trainer's first step: loss terms (rank means) and gradients."""
    trainer = _trainer(root, out, ctx)
    values, _ = trainer.train_step(next(iter(trainer.loader)), EPOCH)
    return {"losses": values, "grads": _grads(trainer.model)}


def chunk_mean_grads(root: Path, out: Path, chunks: int) -> dict[str, torch.Tensor]:
    """One process: the mean of the gradients of the global batch's ``chunks`` parts, with
    the trainer's random TPS for the global batch, clipped as the trainer clips (what
    DDP should compute)."""
    trainer = _trainer(root, out, DistContext())
    shared = torch.Generator().set_state(trainer.shared_generator.get_state())
    objective = trainer.module
    transform = objective.random_transform(GLOBAL_BATCH, torch.empty(0), shared)
    batch = next(iter(trainer.loader))
    trainer.zero_grad()
    size = GLOBAL_BATCH // chunks
    for chunk in range(chunks):
        rows = slice(chunk * size, (chunk + 1) * size)
        part = transform._replace(
            theta=transform.theta[rows], control_params=transform.control_params[rows]
        )
        losses, _ = objective(batch["source"][rows], batch["driving"][rows], EPOCH, random_tps=part)
        (sum(losses.values()) / chunks).backward()
    trainer.clip_gradients(EPOCH)
    return _grads(trainer.model)


def worker(out: Path, root: Path) -> None:
    """torchrun entry: the equivalence steps, then a short real run (rank 0 saves)."""
    torch.set_num_threads(1)
    ctx = init_distributed("cpu")
    result = one_step(root, out / "steps", ctx)
    if ctx.is_main:
        torch.save(result, out / "ddp.pt")
    train_generator(
        _config(root),
        RunOptions(out / "run", max_steps=2, progress=False, device="cpu"),
        vgg=random_vgg(),
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def test_two_processes_match_one_process(tmp_path):
    root = make_dataset(tmp_path / "data")
    out = tmp_path / "ddp"
    out.mkdir()
    here = Path(__file__).parent  # the worker imports trainer_helpers and tiny_model
    env = dict(
        os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(here), str(here.parent)])
    )
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(_free_port()),
        __file__,
        str(out),
        str(root),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]

    distributed = torch.load(out / "ddp.pt", weights_only=True)
    single = one_step(root, tmp_path / "single", DistContext())
    chunked = chunk_mean_grads(root, tmp_path / "chunked", chunks=2)

    got, want = distributed["losses"], single["losses"]
    assert got.keys() == want.keys() == {"perceptual", "equivariance_value", "warp_loss", "bg"}
    for name in want:
        assert abs(got[name] - want[name]) <= 1e-5 * max(1.0, abs(want[name])), name

    grads = distributed["grads"]
    assert grads.keys() == single["grads"].keys() == chunked.keys()
    for name, value in chunked.items():
        torch.testing.assert_close(grads[name], value, rtol=1e-4, atol=1e-7, msg=name)
    flat = torch.cat([grads[n].flatten() for n in sorted(grads)])
    reference = torch.cat([single["grads"][n].flatten() for n in sorted(grads)])
    assert (flat - reference).norm() <= 1e-3 * reference.norm()

    # The real run: rank 0 alone wrote the checkpoint and a log of two steps.
    state = read_checkpoint(out / "run" / "checkpoint.pth.tar")["tpsmm_training"]
    assert state["world_size"] == 2 and state["global_step"] == 2
    assert len(state["rng"]["ranks"]) == 2
    rows = (out / "run" / "log.csv").read_text().splitlines()
    assert len(rows) == 3


if __name__ == "__main__":
    worker(Path(sys.argv[1]), Path(sys.argv[2]))
