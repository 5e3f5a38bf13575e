"""The loss log of a training run: ``RUN/log.csv`` and, when installed, TensorBoard.

``log.csv`` has one row per optimisation step: ``epoch, step, <loss terms>, total, lr,
time`` where ``step`` counts steps since the start of the run (1 for the first), the loss
terms are the weighted terms averaged over the ranks, ``lr`` is the learning rate of the
main optimizer and ``time`` the training seconds since the run began (carried over
resumes). A term that appears later (``bg`` from ``bg_start``) adds a column: the file is
rewritten with the wider header, earlier rows leaving it empty. On resume, rows past the
checkpoint's step (written after it, then lost with the interruption) are dropped, so
the file lists each step once.

TensorBoard scalars go to ``RUN/tensorboard`` when ``torch.utils.tensorboard`` imports
(``pip install tensorboard``); otherwise only the CSV is written.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FIXED_COLUMNS", "LossLog"]

#: Columns before the loss terms, and after them.
FIXED_COLUMNS: tuple[str, ...] = ("epoch", "step")
TRAILING_COLUMNS: tuple[str, ...] = ("total", "lr", "time")


def _tensorboard_writer(folder: Path) -> Any | None:
    """A SummaryWriter for ``folder``, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except (ImportError, ModuleNotFoundError):
        return None
    return SummaryWriter(log_dir=str(folder))


class LossLog:
    """Appends one row per step to ``log.csv`` (and TensorBoard scalars).

    Args:
        run_dir: the run folder.
        terms: the loss terms expected from the start (their column order).
        resume_step: when resuming, the checkpoint's global step: rows after it are
            dropped. None starts a new file (an existing one is replaced).
        tensorboard: also write TensorBoard events when available.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike,
        terms: Sequence[str],
        *,
        resume_step: int | None = None,
        tensorboard: bool = True,
    ):
        self.path = Path(run_dir) / "log.csv"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        rows: list[dict[str, str]] = []
        header_terms = list(terms)
        if resume_step is not None and self.path.exists():
            header_terms, rows = self._read(header_terms, resume_step)
        self.terms = header_terms
        self._write_all(rows)
        self._handle = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns)
        self.tensorboard = (
            _tensorboard_writer(self.path.parent / "tensorboard") if tensorboard else None
        )

    @property
    def columns(self) -> list[str]:
        return [*FIXED_COLUMNS, *self.terms, *TRAILING_COLUMNS]

    def _read(self, terms: list[str], resume_step: int) -> tuple[list[str], list[dict[str, str]]]:
        """Existing terms (in file order, then new ones) and the rows up to ``resume_step``."""
        with self.path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = list(reader.fieldnames or [])
            rows = [row for row in reader if _int(row.get("step")) <= resume_step]
        known = [f for f in fields if f not in FIXED_COLUMNS and f not in TRAILING_COLUMNS]
        return known + [t for t in terms if t not in known], rows

    def _write_all(self, rows: Sequence[Mapping[str, Any]]) -> None:
        """Rewrite the file with the current header and ``rows``."""
        with self.path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=self.columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)

    def _widen(self, new_terms: Sequence[str]) -> None:
        """Add columns for terms first seen now, rewriting the file."""
        self._handle.close()
        with self.path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        self.terms = [*self.terms, *new_terms]
        self._write_all(rows)
        self._handle = self.path.open("a", newline="")
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns)

    def log(
        self, epoch: int, step: int, losses: Mapping[str, float], lr: float, seconds: float
    ) -> None:
        """Append one step: ``losses`` are the weighted terms (floats); the total is
        their sum."""
        new = [name for name in losses if name not in self.terms]
        if new:
            self._widen(new)
        total = float(sum(losses.values()))
        row: dict[str, Any] = {"epoch": epoch, "step": step, "total": f"{total:.6g}"}
        row.update({name: f"{float(value):.6g}" for name, value in losses.items()})
        row.update({"lr": f"{lr:.6g}", "time": f"{seconds:.3f}"})
        self._writer.writerow(row)
        self._handle.flush()
        if self.tensorboard is not None:
            for name, value in losses.items():
                self.tensorboard.add_scalar(f"loss/{name}", float(value), step)
            self.tensorboard.add_scalar("loss/total", total, step)
            self.tensorboard.add_scalar("lr", lr, step)

    def close(self) -> None:
        """Flush and close the files."""
        if not self._handle.closed:
            self._handle.close()
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None

    def __enter__(self) -> LossLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0
