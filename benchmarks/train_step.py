"""Training-step speed: tpsmm's GeneratorObjective against the authors' training step.

One step = the generator's forward with its losses, backward, infinity-norm gradient
clipping and both Adam steps (main networks and background predictor), as in the
authors' ``train.py`` at an epoch past ``bg_start`` and ``dropout_epoch`` (epoch 40 by
default). The authors' step is re-created in this file (:class:`AuthorsGeneratorFullModel`
and :func:`authors_step`, after ``modules/model.py`` and ``train.py`` of their commit
c616878) on the same networks and weights, so all variants run in one process,
interleaved, on the same inputs, and each speed-up is a ratio measured in one run (this
machine is shared and its speed drifts). Every variant must give the authors' loss values
(checked to 1e-5 relative).

Variants: ``authors`` (under :func:`~tpsmm.networks.layers.reference_ops`: upsampling
then convolving, ``F.instance_norm``); ``tpsmm`` (GeneratorObjective in eager mode:
channels-last ResNets and VGG, up-blocks fused into one convolution at the input's
resolution, strided pyramid, targets without autograd, fused Adam, clipping without the
multiply by 1); ``tpsmm compiled`` (the same with ``compile=True``; its first step
includes building the compiled code, minutes on 2 cores).

    python benchmarks/train_step.py                  # batch 4 at 256x256, 5 runs each
    python benchmarks/train_step.py --quick          # batch 2 at 128x128, 2 runs each
    python benchmarks/train_step.py --threads 1 --no-compile --append-results

Reports, per variant, the median wall-clock and process CPU seconds per step and the
median of the per-run ratios (authors / variant). With another busy process on a 2-core
machine, 2 threads run far slower than 1 (OpenMP threads wait for each other): compare
only numbers of one run. Weights: --checkpoint, else a seeded random initialisation;
VGG-19: --vgg19, else torchvision's file from the torch hub cache, else a random one
(the speed does not depend on the values).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import tpsmm
from tpsmm.config import TrainParams
from tpsmm.geometry import gaussian_kernel
from tpsmm.losses import load_vgg19
from tpsmm.media import fit_frames, read_video
from tpsmm.networks import InpaintingNetwork, VGG19Features
from tpsmm.networks.layers import reference_ops
from tpsmm.training import GeneratorObjective
from tpsmm.training.optim import ADAM_BETAS, clip_inf_norm, make_adam
from tpsmm.training.optim import CLIP_NORM as CLIP
from tpsmm.training.optim import GENERATOR_WEIGHT_DECAY as WEIGHT_DECAY

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "tpsmm" / "assets"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


# ----------------------------------------------------------------------------- authors


class AuthorsGeneratorFullModel(nn.Module):
    """The authors' ``GeneratorFullModel.forward``, step by step, on tpsmm's networks.

    What it does as they do, and tpsmm's objective does not: the real image's VGG
    features are computed in a grad-enabled pass (the VGG's parameters are frozen, so
    nothing is recorded, as in theirs); the pyramid blurs at full resolution and then
    takes nearest samples; the warp loss's driving encoder runs with autograd on and
    its outputs are detached afterwards; inputs are contiguous NCHW tensors (their
    data loader's collation), so every convolution runs in that layout.
    """

    def __init__(self, model: tpsmm.TPSMM, train_params: TrainParams, vgg: VGG19Features):
        super().__init__()
        self.model = model
        self.params = train_params
        self.vgg = vgg
        self.scales = list(train_params.scales)

    def inpainting_forward(self, source: Tensor, dense_motion: dict[str, Any]) -> dict[str, Any]:
        """Their ``InpaintingNetwork.forward``: warped and detached-warped encoder maps."""
        net: InpaintingNetwork = self.model.inpainting_network
        out = net.first(source)
        encoder_map = [out]
        for block in net.down_blocks:
            out = block(out)
            encoder_map.append(out)
        occlusion_map = dense_motion["occlusion_maps"]
        deformation = dense_motion["deformation"]
        out_ij = deform_input(out.detach(), deformation) * occlusion_map[0].detach()
        out = deform_input(out, deformation) * occlusion_map[0]
        warped_encoder_maps = [out_ij]
        encode_i = out
        for i in range(net.num_down_blocks):
            out = net.resblock[2 * i](out)
            out = net.resblock[2 * i + 1](out)
            out = net.up_blocks[i](out)
            encode_i = encoder_map[-(i + 2)]
            encode_ij = deform_input(encode_i.detach(), deformation)
            encode_i = deform_input(encode_i, deformation)
            encode_ij = encode_ij * occlusion_map[i + 1].detach()
            encode_i = encode_i * occlusion_map[i + 1]
            warped_encoder_maps.append(encode_ij)
            if i == net.num_down_blocks - 1:
                break
            out = torch.cat([out, encode_i], 1)
        deformed_source = deform_input(source, deformation)
        occlusion_last = occlusion_map[-1]
        out = out * (1 - occlusion_last) + encode_i
        out = torch.sigmoid(net.final(out))
        out = out * (1 - occlusion_last) + deformed_source * occlusion_last
        return {
            "prediction": out,
            "deformed": deformed_source,
            "warped_encoder_maps": warped_encoder_maps,
            "occlusion_map": occlusion_map,
        }

    def get_encode(self, driver_image: Tensor, occlusion_map: list[Tensor]) -> list[Tensor]:
        """Their ``InpaintingNetwork.get_encode``: run with autograd, detached after."""
        net = self.model.inpainting_network
        out = net.first(driver_image)
        encoder_map = [out.detach() * occlusion_map[-1].detach()]
        for i, block in enumerate(net.down_blocks):
            out = block(out.detach())
            encoder_map.append((out.detach() * occlusion_map[2 - i].detach()).detach())
        return encoder_map

    def forward(
        self, source: Tensor, driving: Tensor, epoch: int, theta: Tensor, control_params: Tensor
    ) -> dict[str, Tensor]:
        model, params = self.model, self.params
        weights = params.loss_weights
        kp_source = model.kp_detector(source)
        kp_driving = model.kp_detector(driving)
        bg_param = None
        if model.bg_predictor is not None and epoch >= params.bg_start:
            bg_param = model.bg_predictor(source, driving)
        dropout_p = params.dropout_probability(epoch)
        dense_motion = model.dense_motion_network(
            source, kp_source, kp_driving, bg_param, dropout_p=dropout_p
        )
        generated = self.inpainting_forward(source, dense_motion)

        loss_values: dict[str, Tensor] = {}
        pyramide_real = authors_pyramid(driving, self.scales)
        pyramide_generated = authors_pyramid(generated["prediction"], self.scales)
        if sum(weights.perceptual) != 0:
            value_total: Tensor | float = 0
            for real, fake in zip(pyramide_real, pyramide_generated, strict=True):
                x_vgg = self.vgg(fake)
                y_vgg = self.vgg(real)
                for i, weight in enumerate(weights.perceptual):
                    value = torch.abs(x_vgg[i] - y_vgg[i].detach()).mean()
                    value_total = value_total + weight * value
            loss_values["perceptual"] = value_total  # type: ignore[assignment]

        if weights.equivariance_value != 0:
            grid = authors_warp_coordinates(
                theta, control_params, _coordinate_grid(driving.shape[2], driving.shape[3])
            ).view(driving.shape[0], driving.shape[2], driving.shape[3], 2)
            transformed_frame = F.grid_sample(
                driving, grid, padding_mode="reflection", align_corners=True
            )
            transformed_kp = model.kp_detector(transformed_frame)
            warped = authors_warp_coordinates(theta, control_params, transformed_kp)
            value = torch.abs(kp_driving - warped).mean()
            loss_values["equivariance_value"] = weights.equivariance_value * value

        if weights.warp_loss != 0:
            encode_map = self.get_encode(driving, generated["occlusion_map"])
            decode_map = generated["warped_encoder_maps"]
            value = 0
            for i in range(len(encode_map)):
                value = value + torch.abs(encode_map[i] - decode_map[-i - 1]).mean()
            loss_values["warp_loss"] = weights.warp_loss * value

        if bg_param is not None and weights.bg != 0:
            bg_param_reverse = model.bg_predictor(driving, source)  # type: ignore[misc]
            value = torch.matmul(bg_param, bg_param_reverse)
            eye = torch.eye(3).view(1, 1, 3, 3).type(value.type())
            loss_values["bg"] = weights.bg * torch.abs(eye - value).mean()
        return loss_values


def deform_input(inp: Tensor, deformation: Tensor) -> Tensor:
    """Their ``deform_input``: resize the flow to the input's size, then grid_sample."""
    _, h_old, w_old, _ = deformation.shape
    _, _, h, w = inp.shape
    if h_old != h or w_old != w:
        deformation = deformation.permute(0, 3, 1, 2)
        deformation = F.interpolate(deformation, size=(h, w), mode="bilinear", align_corners=True)
        deformation = deformation.permute(0, 2, 3, 1)
    return F.grid_sample(inp, deformation, align_corners=True)


def _coordinate_grid(h: int, w: int) -> Tensor:
    """Their ``make_coordinate_grid`` flattened to (1, h*w, 2)."""
    x = 2 * (torch.arange(w).float() / (w - 1)) - 1
    y = 2 * (torch.arange(h).float() / (h - 1)) - 1
    grid = torch.cat(
        [x.view(1, -1).repeat(h, 1)[..., None], y.view(-1, 1).repeat(1, w)[..., None]], 2
    )
    return grid.view(1, h * w, 2)


def authors_warp_coordinates(theta: Tensor, control_params: Tensor, coordinates: Tensor) -> Tensor:
    """Their ``TPS.warp_coordinates`` in 'random' mode (5x5 control grid)."""
    batch = theta.shape[0]
    control_points = _coordinate_grid(5, 5).view(1, 1, -1, 2)
    th = theta.unsqueeze(1)
    transformed = torch.matmul(th[:, :, :, :2], coordinates.unsqueeze(-1)) + th[:, :, :, 2:]
    transformed = transformed.squeeze(-1)
    distances = (coordinates.view(coordinates.shape[0], -1, 1, 2) - control_points) ** 2
    result = distances.sum(-1)
    result = result * torch.log(result + 1e-9)
    result = result * control_params
    result = result.sum(dim=2).view(batch, coordinates.shape[1], 1)
    return transformed + result


# ----------------------------------------------------------------------------- steps


@dataclass
class Optimizers:
    """The two Adams of the generator stage."""

    main: torch.optim.Optimizer
    bg: torch.optim.Optimizer | None


def make_optimizers(model: tpsmm.TPSMM, *, authors: bool) -> Optimizers:
    """The authors' plain Adams, or the trainer's (:func:`make_adam`, fused)."""
    main = [
        *model.inpainting_network.parameters(),
        *model.dense_motion_network.parameters(),
        *model.kp_detector.parameters(),
    ]

    def adam(parameters: Iterable[nn.Parameter]) -> torch.optim.Optimizer:
        if authors:
            return torch.optim.Adam(
                list(parameters), lr=2e-4, betas=ADAM_BETAS, weight_decay=WEIGHT_DECAY
            )
        return make_adam(parameters, 2e-4, WEIGHT_DECAY)

    bg = adam(model.bg_predictor.parameters()) if model.bg_predictor is not None else None
    return Optimizers(adam(main), bg)


def authors_pyramid(image: Tensor, scales: list[float]) -> list[Tensor]:
    """Their ``ImagePyramide``: blur at full resolution, then nearest samples."""
    levels = []
    for scale in scales:
        if scale == 1:
            levels.append(image)
            continue
        kernel = gaussian_kernel(scale).to(image).expand(image.shape[1], 1, -1, -1)
        pad = kernel.shape[-1] // 2
        blurred = F.conv2d(F.pad(image, (pad, pad, pad, pad)), kernel, groups=image.shape[1])
        levels.append(F.interpolate(blurred, scale_factor=(scale, scale)))
    return levels


def authors_step(
    full: AuthorsGeneratorFullModel,
    optimizers: Optimizers,
    batch: dict[str, Tensor],
    epoch: int,
) -> dict[str, float]:
    """Their ``train.py`` loop body, with the reference operators (nearest upsampling
    then a 3x3 convolution in the up-blocks)."""
    model = full.model
    with reference_ops():
        losses = full(batch["source"], batch["driving"], epoch, batch["theta"], batch["control"])
    loss = sum(value.mean() for value in losses.values())
    loss.backward()  # type: ignore[union-attr]
    nn.utils.clip_grad_norm_(model.kp_detector.parameters(), max_norm=CLIP, norm_type=math.inf)
    nn.utils.clip_grad_norm_(
        model.dense_motion_network.parameters(), max_norm=CLIP, norm_type=math.inf
    )
    use_bg = model.bg_predictor is not None and epoch >= full.params.bg_start
    if use_bg:
        nn.utils.clip_grad_norm_(model.bg_predictor.parameters(), max_norm=CLIP, norm_type=math.inf)
    optimizers.main.step()
    optimizers.main.zero_grad()
    if use_bg and optimizers.bg is not None:
        optimizers.bg.step()
        optimizers.bg.zero_grad()
    return {k: float(v.detach()) for k, v in losses.items()}


def ours_step(
    objective: GeneratorObjective,
    optimizers: Optimizers,
    batch: dict[str, Tensor],
    epoch: int,
) -> dict[str, float]:
    """tpsmm's step: GeneratorObjective, backward, clipping, fused Adam."""
    model = objective.model
    losses, _ = objective(
        batch["source"], batch["driving"], epoch, random_tps=(batch["theta"], batch["control"])
    )
    sum(losses.values()).backward()  # type: ignore[union-attr]
    clip_inf_norm(model.kp_detector.parameters(), CLIP)
    clip_inf_norm(model.dense_motion_network.parameters(), CLIP)
    use_bg = objective.uses_background(epoch)
    if use_bg:
        clip_inf_norm(model.bg_predictor.parameters(), CLIP)  # type: ignore[union-attr]
    optimizers.main.step()
    optimizers.main.zero_grad()
    if use_bg and optimizers.bg is not None:
        optimizers.bg.step()
        optimizers.bg.zero_grad()
    return {k: float(v.detach()) for k, v in losses.items()}


# ----------------------------------------------------------------------------- harness


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def timed(fn: Callable[[], dict[str, float]]) -> tuple[float, float, dict[str, float]]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, out


def make_batch(size: int, batch: int, seed: int) -> dict[str, Tensor]:
    """Frame pairs of the bundled talking-head video, and a random TPS for the
    equivariance loss. Contiguous NCHW in [0, 1], as the authors' data loader gives."""
    frames = fit_frames(read_video(ASSETS / "driving.mp4", max_frames=4 * batch), size)
    clip = torch.from_numpy(np.ascontiguousarray(frames)).float().div(255).permute(0, 3, 1, 2)
    generator = torch.Generator().manual_seed(seed)
    theta = torch.eye(2, 3) + 0.05 * torch.randn(batch, 2, 3, generator=generator)
    control = 0.005 * torch.randn(batch, 1, 25, generator=generator)
    return {
        "source": clip[0 : 2 * batch : 2].contiguous(),
        "driving": clip[2 * batch + 1 :: 2][:batch].contiguous(),
        "theta": theta,
        "control": control,
    }


def restore(model: nn.Module, snapshot: dict[str, Tensor]) -> None:
    with torch.no_grad():
        for key, value in model.state_dict().items():
            value.copy_(snapshot[key])


def check_losses(ours: dict[str, float], theirs: dict[str, float], rtol: float) -> float:
    """The largest relative difference of the loss terms; raises above ``rtol``."""
    if set(ours) != set(theirs):
        raise AssertionError(f"loss terms differ: {sorted(ours)} vs {sorted(theirs)}")
    worst = max(abs(ours[k] - theirs[k]) / max(abs(theirs[k]), 1e-12) for k in ours)
    if worst > rtol:
        raise AssertionError(f"losses differ by {worst:.2e} relative: {ours} vs {theirs}")
    return worst


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or platform.machine()
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, help="timed steps per variant (default 5)")
    parser.add_argument("--epoch", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--checkpoint", type=Path, help="weights (default: seeded random)")
    parser.add_argument("--vgg19", type=Path, help="VGG-19 weights (default: hub cache/random)")
    parser.add_argument("--quick", action="store_true", help="batch 2 at 128x128, 2 runs")
    parser.add_argument(
        "--no-compile", action="store_true", help="skip the torch.compile variant (slow to build)"
    )
    parser.add_argument("--append-results", action="store_true", help=f"append to {RESULTS}")
    args = parser.parse_args()
    if args.quick:
        args.batch, args.size = 2, 128
        args.repeats = args.repeats or 2
    args.repeats = args.repeats or 5
    if args.threads:
        torch.set_num_threads(args.threads)

    torch.manual_seed(0)
    if args.checkpoint:
        model = tpsmm.load_model(args.checkpoint, "vox-256")
    else:
        model = tpsmm.TPSMM("vox-256")
    model.train()
    model.avd_network.requires_grad_(False)
    vgg = load_vgg19(args.vgg19, allow_random=True)
    params = model.config.train_params
    batch = make_batch(args.size, args.batch, seed=1)
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}

    authors = AuthorsGeneratorFullModel(model, params, vgg)
    authors_opt = make_optimizers(model, authors=True)
    ours_opt = make_optimizers(model, authors=False)
    variants: dict[str, Callable[[], dict[str, float]]] = {
        "authors": lambda: authors_step(authors, authors_opt, batch, args.epoch),
    }
    eager = GeneratorObjective(model, params, vgg)
    variants["tpsmm"] = lambda: ours_step(eager, ours_opt, batch, args.epoch)
    if not args.no_compile:
        compiled = GeneratorObjective(model, params, vgg, compile=True)
        variants["tpsmm compiled"] = lambda: ours_step(compiled, ours_opt, batch, args.epoch)

    header = (
        f"{cpu_model()} ({os.cpu_count()} CPUs), {torch.get_num_threads()} threads, "
        f"torch {torch.__version__}, batch {args.batch} at {args.size}x{args.size}, "
        f"epoch {args.epoch}, float32"
    )
    print(f"# {header}", flush=True)
    times = {name: Timings() for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in variants}
    worst = 0.0
    warmup: dict[str, float] = {}
    for repeat in range(args.repeats + 1):  # round 0 warms up (and compiles)
        order = list(variants) if repeat % 2 == 0 else list(reversed(variants))
        losses: dict[str, dict[str, float]] = {}
        for name in order:
            restore(model, snapshot)
            wall, cpu, losses[name] = timed(variants[name])
            if repeat:
                times[name].wall.append(wall)
                times[name].cpu.append(cpu)
            else:
                warmup[name] = wall
        for name in variants:
            worst = max(worst, check_losses(losses[name], losses["authors"], 1e-5))
        if not repeat:
            print(
                "warm-up: " + ", ".join(f"{n} {s:.1f}s" for n, s in warmup.items()),
                flush=True,
            )
            continue
        for name, t in times.items():
            ratios[name].append(times["authors"].wall[-1] / t.wall[-1])
            cpu_ratios[name].append(times["authors"].cpu[-1] / t.cpu[-1])
        print(
            f"run {repeat}: "
            + ", ".join(f"{n} {t.wall[-1]:.2f}s (cpu {t.cpu[-1]:.2f}s)" for n, t in times.items()),
            flush=True,
        )

    lines = [
        "| variant | wall s/step (median) | CPU s/step (median) | speed-up, wall (median of runs) "
        "| speed-up, CPU | first step (incl. compile) |",
        "|---|---|---|---|---|---|",
    ]
    for name, t in times.items():
        lines.append(
            f"| {name} | {statistics.median(t.wall):.2f} | {statistics.median(t.cpu):.2f} "
            f"| {statistics.median(ratios[name]):.2f}x | {statistics.median(cpu_ratios[name]):.2f}x "
            f"| {warmup[name]:.0f} s |"
        )
    summary = f"Loss terms of every variant equal to the authors' to {worst:.1e} relative."
    print("\n" + "\n".join(lines) + "\n\n" + summary)
    if args.append_results:
        command = "python benchmarks/train_step.py " + " ".join(
            a for a in sys.argv[1:] if a != "--append-results"
        )
        with RESULTS.open("a") as handle:
            handle.write(
                f"\n## Training step (benchmarks/train_step.py), {datetime.date.today()}\n\n"
                f"Machine: {header}; {args.repeats} interleaved runs per variant after a "
                f"warm-up round.\nCommand: `{command.strip()}`\n\n"
                + "\n".join(lines)
                + f"\n\n{summary}\n"
            )


if __name__ == "__main__":
    main()
