"""Reading and writing checkpoints: the authors' ``.pth.tar`` layout and safetensors.

The authors' layout is a dict of state dicts, one per network (``kp_detector``,
``dense_motion_network``, ``inpainting_network``, ``bg_predictor``, ``avd_network``),
plus optimizer states and ``epoch``. Files are read with ``torch.load(...,
weights_only=True)``: a file holding anything but tensors and plain containers is refused
and never executed. tpsmm writes the same layout plus ``tpsmm_config`` (the
configuration as plain data), so a file describes itself; in safetensors the keys are
``<network>.<key>`` and the configuration is JSON in the metadata.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from tpsmm.bundled import bundled_path, is_bundled
from tpsmm.config import Config, config_from_dict, load_config, preset
from tpsmm.errors import CheckpointError, TPSMMWarning, describe_os_error
from tpsmm.files import atomic_path
from tpsmm.model import TPSMM

#: The networks of a checkpoint, in the authors' order.
NETWORKS: tuple[str, ...] = (
    "kp_detector",
    "dense_motion_network",
    "inpainting_network",
    "avd_network",
    "bg_predictor",
)
CONFIG_KEY = "tpsmm_config"
#: Where a training run's checkpoint records its progress (stage, epoch, steps, seed).
TRAINING_KEY = "tpsmm_training"
SAFETENSORS_SUFFIXES = (".safetensors", ".st")


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The raw contents of a checkpoint file (on the CPU).

    ``.safetensors`` files give ``{"<network>.<key>": tensor, ..., "tpsmm_config": dict}``;
    other files are read with ``torch.load(weights_only=True)``. The name of a bundled
    model (``demo``, see :mod:`tpsmm.bundled`) reads the bundled file, unless a file
    of that name exists.

    Raises:
        CheckpointError: missing, truncated or foreign file, or one holding objects
            other than tensors (refused, never executed).
    """
    path = bundled_path(str(path)) if is_bundled(path) else Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file")
    if path.suffix in SAFETENSORS_SUFFIXES:
        return _read_safetensors(path)
    return load_torch_file(path, f"checkpoint {path}")


def load_torch_file(path: Path, what: str, hint: str = "") -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a file holding a dict, on the CPU.

    Errors are sentences of ours that say what is wrong with the file; PyTorch's own
    text (long, cut mid-sentence, ending in advice to turn ``weights_only`` off) is not
    passed on.

    Args:
        what: how error messages name the file, e.g. ``"checkpoint vox.pth.tar"``.
        hint: appended to every error message (e.g. where to get the file).

    Raises:
        CheckpointError: an empty, truncated or foreign file, one holding something
            other than a dict, or one holding objects other than tensors (refused,
            never executed).
    """
    try:
        with warnings.catch_warnings():  # a foreign pickle: the error below says it
            warnings.filterwarnings("ignore", "Detected pickle protocol", UserWarning)
            data = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        raise CheckpointError(f"cannot read {what}: {describe_os_error(error)}{hint}") from None
    except Exception as error:  # torch.load raises many kinds for foreign files
        refused = _refused_global(error)
        if refused is not None:
            raise CheckpointError(
                f"refusing {what}: it holds Python objects other than tensors{refused}, and "
                f"loading it could run code{hint}"
            ) from None
        problem = _torch_load_problem(path, error)
        raise CheckpointError(f"cannot read {what}: {problem}{hint}") from None
    if not isinstance(data, Mapping):
        raise CheckpointError(
            f"{what} holds a {type(data).__name__}, not a dict of state dicts{hint}"
        )
    return dict(data)


def _refused_global(error: Exception) -> str | None:
    """When the weights-only unpickler refused to build an object (the file would run
    code): ``" (module.name)"`` naming it where PyTorch does, else ``""``; None for
    other errors."""
    if not isinstance(error, pickle.UnpicklingError):
        return None
    text = str(error)
    named = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if named:
        return f" ({named.group(1)})"
    return "" if re.search(r"Unsupported (global|class)|GLOBAL|REDUCE|BUILD", text) else None


def _torch_load_problem(path: Path, error: Exception) -> str:
    """Why ``torch.load(weights_only=True)`` failed on ``path``, in our words."""
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError:
        size, start = -1, b""
    if size == 0:
        return "the file is empty"
    if start == b"PK\x03\x04":  # a zip archive, as torch.save writes
        if not zipfile.is_zipfile(path):
            return "the file is truncated or damaged (its zip archive is incomplete)"
        return "it is a zip archive but not one torch.save wrote"
    if isinstance(error, EOFError):
        return "the file ends early (it is truncated)"
    return (
        "it is not a PyTorch checkpoint (neither a torch.save zip archive nor a pickle of tensors)"
    )


def _read_safetensors(path: Path) -> dict[str, Any]:
    try:
        from safetensors import safe_open
    except ImportError:
        raise CheckpointError(
            f"reading {path} needs the safetensors package: pip install 'tpsmm[safetensors]'"
        ) from None
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            data: dict[str, Any] = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata = handle.metadata() or {}
    except OSError as error:
        raise CheckpointError(
            f"cannot read checkpoint {path}: {describe_os_error(error)}"
        ) from None
    except Exception:  # safetensors raises its own errors for damaged files
        raise CheckpointError(
            f"cannot read checkpoint {path}: the file is truncated or not a safetensors file"
        ) from None
    if CONFIG_KEY in metadata:
        data[CONFIG_KEY] = json.loads(metadata[CONFIG_KEY])
    return data


def _strip_wrappers(key: str) -> str:
    """Drop DataParallel / DistributedDataParallel (``module.``) and torch.compile
    (``_orig_mod.``) prefixes."""
    changed = True
    while changed:
        changed = False
        for prefix in ("module.", "_orig_mod."):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                changed = True
    return key


def convert_checkpoint(raw: Mapping[str, Any]) -> dict[str, Tensor]:
    """Map a checkpoint's contents onto :class:`tpsmm.model.TPSMM`'s state dict keys.

    Accepts the authors' nested layout (one state dict per network; optimizer states,
    ``epoch`` and other entries are ignored) and flat ``<network>.<key>`` dicts (our
    safetensors files, ``TPSMM.state_dict()``); strips ``module.`` prefixes left by
    DataParallel.

    Returns:
        ``{"<network>.<key>": tensor}`` for every network found.
    """
    flat: dict[str, Tensor] = {}
    for name in NETWORKS:
        nested = raw.get(name)
        if isinstance(nested, Mapping):
            for key, value in nested.items():
                if isinstance(value, Tensor):
                    flat[f"{name}.{_strip_wrappers(key)}"] = value
    for key, value in raw.items():
        if not isinstance(value, Tensor):
            continue
        key = _strip_wrappers(key)
        if key.split(".", 1)[0] in NETWORKS:
            flat[key] = value
    return flat


def stored_config(raw: Mapping[str, Any]) -> Config | None:
    """The configuration a tpsmm checkpoint carries, or None (the authors' files)."""
    data = raw.get(CONFIG_KEY)
    return config_from_dict(data) if isinstance(data, Mapping) else None


#: The authors' published checkpoints by file name, and the preset each was trained with.
AUTHORS_PRESETS: dict[str, str] = {
    "vox": "vox-256",
    "taichi": "taichi-256",
    "ted": "ted-384",
    "mgif": "mgif-256",
}


class ConfigNotice(TPSMMWarning):
    """Which configuration a checkpoint without one was given (shown as a one-line note)."""

    label = "note"


def checkpoint_config(
    raw: Mapping[str, Any],
    state: Mapping[str, Tensor] | None = None,
    path: str | os.PathLike | None = None,
) -> Config:
    """The configuration of a checkpoint's contents: the one a tpsmm file carries, else
    (the authors' files, which hold none) the preset of the authors' file name
    (``vox``, ``taichi``, ``ted``, ``mgif`` + ``.pth.tar``; see :data:`AUTHORS_PRESETS`),
    else the one its weights show (:func:`infer_config`). For an authors' file a
    :class:`ConfigNotice` says in one line which it took.

    Args:
        raw: :func:`read_checkpoint`'s contents; ``state``: :func:`convert_checkpoint`
            of ``raw`` when already computed; ``path``: the file, for its name.
    """
    stored = stored_config(raw)
    if stored is not None:
        return stored
    file = Path(path).name if path is not None else "the checkpoint"
    name = authors_name(path)
    if name in AUTHORS_PRESETS:
        chosen = AUTHORS_PRESETS[name]
        warnings.warn(
            f"{file} holds no config: the {chosen} preset, as the authors' {name} "
            "checkpoint (--config to choose another)",
            ConfigNotice,
            stacklevel=2,
        )
        return preset(chosen)
    warnings.warn(
        f"{file} holds no config and is not named as an authors' checkpoint "
        f"({', '.join(f'{n}.pth.tar' for n in AUTHORS_PRESETS)}): the vox-256 architecture "
        "at 256x256 (--config to choose another)",
        ConfigNotice,
        stacklevel=2,
    )
    return infer_config(convert_checkpoint(raw) if state is None else state)


def authors_name(path: str | os.PathLike | None) -> str | None:
    """``ted`` for ``ted.pth.tar`` (also ``.pth``, ``.tar``, ``.pt``, any case), else the
    file name without those suffixes; None without a path."""
    if path is None:
        return None
    name = Path(path).name.lower()
    for suffix in (".tar", ".pth", ".pt"):
        name = name.removesuffix(suffix)
    return name


def infer_config(state: Mapping[str, Tensor]) -> Config:
    """The configuration of an authors' file of unknown name: the vox-256 architecture,
    with the number of TPS, the background predictor and the multi-resolution masks as
    the file shows."""
    config = preset("vox-256")
    changes: dict[str, Any] = {"name": None}
    fc_bias = state.get("kp_detector.fg_encoder.fc.bias")
    if fc_bias is not None and fc_bias.numel() % 10 == 0:
        changes["model_params.common_params.num_tps"] = fc_bias.numel() // 10
    changes["model_params.common_params.bg"] = any(k.startswith("bg_predictor.") for k in state)
    changes["model_params.common_params.multi_mask"] = (
        "dense_motion_network.up.0.conv.weight" in state
    )
    return config.replace(**changes)


def load_state(
    model: TPSMM, state: Mapping[str, Tensor], *, source: str = "checkpoint", partial: bool = False
) -> str | None:
    """Copy a flat state dict into ``model``, strictly.

    A missing, unexpected or wrongly shaped entry raises :class:`CheckpointError` naming
    it. A state without any ``avd_network.*`` entry loads; the model's ``avd_available``
    is then False and avd mode refuses.

    With ``partial`` (starting a training run on a changed architecture: a new head,
    another width), only the entries of the same name and shape are copied; the model's
    other entries keep their initialisation and the state's others are ignored. Returns
    a one-line account of what was not copied (None when everything was, and without
    ``partial``).
    """
    expected = model.state_dict()
    if partial:
        return _load_partial(model, state, expected, source)
    present = {key.split(".", 1)[0] for key in state}
    has_avd = "avd_network" in present
    absent = [
        name
        for name in NETWORKS
        if name != "avd_network" and getattr(model, name) is not None and name not in present
    ]
    if absent:
        raise CheckpointError(
            f"{source} has no {' or '.join(absent)}, which the config "
            f"{_describe(model.config)} needs"
        )
    missing = [k for k in expected if k not in state and (has_avd or not k.startswith("avd_"))]
    if missing:
        more = f" and {len(missing) - 1} more entries" if len(missing) > 1 else ""
        raise CheckpointError(
            f"{source} lacks {missing[0]}{more} needed by the config {_describe(model.config)}"
        )
    unexpected = [k for k in state if k not in expected]
    if unexpected:
        more = f" and {len(unexpected) - 1} more" if len(unexpected) > 1 else ""
        hint = ""
        if unexpected[0].startswith("bg_predictor."):
            hint = " (the config has no background predictor: common_params.bg is false)"
        raise CheckpointError(
            f"{source} has an unexpected entry {unexpected[0]}{more} for the config "
            f"{_describe(model.config)}{hint}"
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise CheckpointError(
                f"{source} entry {key} has shape {tuple(value.shape)} but the config "
                f"{_describe(model.config)} expects {tuple(expected[key].shape)}"
            )
    model.load_state_dict(state, strict=has_avd)
    model.avd_available = has_avd


def _load_partial(
    model: TPSMM, state: Mapping[str, Tensor], expected: Mapping[str, Tensor], source: str
) -> str | None:
    """:func:`load_state` with ``partial``."""
    fits = {
        key: value
        for key, value in state.items()
        if key in expected and tuple(value.shape) == tuple(expected[key].shape)
    }
    model.load_state_dict(fits, strict=False)
    fresh = sorted(key for key in expected if key not in fits)
    ignored = sorted(key for key in state if key not in fits)
    if not fresh and not ignored:
        return None
    return (
        f"{source}: {len(fits)} entries copied; {len(fresh)} keep their initialisation "
        f"({_prefixes(fresh)}); {len(ignored)} not used ({_prefixes(ignored)})"
    )


def _prefixes(keys: list[str]) -> str:
    """The distinct parameter groups of ``keys`` (their names without the last two parts)."""
    groups = sorted({key.rsplit(".", 2)[0] for key in keys})
    shown = ", ".join(groups[:6])
    return shown + (f" and {len(groups) - 6} more" if len(groups) > 6 else "") if groups else "none"


def _describe(config: Config) -> str:
    common = config.common
    return (
        f"{config.name or '(custom)'} [num_tps={common.num_tps}, bg={common.bg}, "
        f"multi_mask={common.multi_mask}]"
    )


def load_model(
    checkpoint: str | os.PathLike,
    config: Config | str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> TPSMM:
    """Load a checkpoint into a :class:`TPSMM` in eval mode.

    Args:
        checkpoint: an authors' ``.pth.tar``, a tpsmm ``.pth.tar``/``.pt`` or a
            ``.safetensors`` file, or the name of a bundled model (``"demo"``).
        config: a preset name, a path to a YAML file, a :class:`Config`, or None for the
            config stored in the file; the authors' files store none: ``vox.pth.tar``,
            ``taichi.pth.tar``, ``ted.pth.tar`` and ``mgif.pth.tar`` take their preset,
            others the vox-256 architecture with the number of TPS, background
            predictor and masks the file shows (a :class:`ConfigNotice` says which).
        device: where the model goes.
    """
    raw = read_checkpoint(checkpoint)
    state = convert_checkpoint(raw)
    if not state:
        raise CheckpointError(
            f"checkpoint {checkpoint} holds no TPSMM networks "
            f"(expected entries {', '.join(NETWORKS[:3])}, ...)"
        )
    if config is None:
        cfg = checkpoint_config(raw, state, checkpoint)
    else:
        cfg = load_config(str(config) if isinstance(config, os.PathLike) else config)
    model = TPSMM(cfg)
    load_state(model, state, source=f"checkpoint {checkpoint}")
    return model.to(device).eval()


def save_checkpoint(
    path: str | os.PathLike,
    model: TPSMM,
    extra: Mapping[str, Any] | None = None,
    *,
    include_avd: bool | None = None,
) -> Path:
    """Write ``model`` in the authors' layout plus its config, atomically.

    Args:
        path: ``.safetensors`` for a flat safetensors file (``extra`` not allowed),
            anything else for a ``torch.save`` dict of state dicts.
        extra: further top-level entries (optimizer states, ``epoch``, ...); they must
            be tensors or plain containers so the file loads with weights_only=True.
        include_avd: write the AVD network; default: when the model has trained AVD
            weights (``model.avd_available``).
    """
    path = Path(path)
    if include_avd is None:
        include_avd = model.avd_available
    networks = [n for n in NETWORKS if getattr(model, n) is not None]
    if not include_avd:
        networks.remove("avd_network")
    config = model.config.to_dict()
    writer: Callable[[Path], None]
    if path.suffix in SAFETENSORS_SUFFIXES:
        if extra:
            raise ValueError("safetensors files hold only the networks; use .pth.tar for extra")
        from safetensors.torch import save_file

        flat = {
            f"{n}.{k}": v.detach().cpu().contiguous()
            for n in networks
            for k, v in getattr(model, n).state_dict().items()
        }

        def writer(target: Path) -> None:
            save_file(flat, str(target), metadata={CONFIG_KEY: json.dumps(config)})
    else:
        payload: dict[str, Any] = {
            n: {k: v.detach().cpu() for k, v in getattr(model, n).state_dict().items()}
            for n in networks
        }
        payload[CONFIG_KEY] = config
        payload.update(extra or {})

        def writer(target: Path) -> None:
            torch.save(payload, target)

    with atomic_path(path) as tmp:
        writer(tmp)
    return path
