"""Progress of the animation job's passes over a video: a tqdm bar and a callback.

A job makes up to four passes (``face`` tracking, ``best frame``, ``motion``
extraction, ``animate``); each counts its frames with a :class:`FrameProgress`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np
from tqdm import tqdm

from tpsmm.media import VideoReader

#: Called as ``on_progress(stage, done, total)`` when a pass starts (``done`` 0) and after
#: each batch: ``stage`` is ``"face"``, ``"best frame"``, ``"motion"`` or ``"animate"``,
#: ``done`` the frames of that pass so far, ``total`` the frames it will take (None when
#: the container does not say). An exception it raises stops the job (the partial output
#: is removed).
ProgressCallback = Callable[[str, int, "int | None"], None]


def expected_frames(reader: VideoReader, max_frames: int | None) -> int | None:
    """How many frames the job will animate, when the container says (for the bar)."""
    total = reader.num_frames
    if max_frames is None:
        return total
    return max_frames if total is None else min(total, max_frames)


class FrameProgress:
    """Counts the frames of one pass for a tqdm bar on stderr (frames per second) and an
    optional callback.

    Args:
        stage: the pass's name (the bar's label and the callback's first argument).
        total: frames the pass will take, or None when unknown.
        bar: show the tqdm bar; on_progress: see :data:`ProgressCallback`.
    """

    def __init__(
        self,
        stage: str,
        total: int | None,
        *,
        bar: bool = False,
        on_progress: ProgressCallback | None = None,
    ):
        self.stage, self.total, self.done = stage, total, 0
        self.on_progress = on_progress
        self.bar = tqdm(
            total=total,
            desc=stage,
            unit="frame",
            file=sys.stderr,
            disable=not bar,
            dynamic_ncols=True,
        )

    def __enter__(self) -> FrameProgress:
        if self.on_progress is not None:
            self.on_progress(self.stage, 0, self.total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.close()

    def update(self, frames: int) -> None:
        """``frames`` more frames are done."""
        self.done += frames
        self.bar.update(frames)
        if self.on_progress is not None:
            self.on_progress(self.stage, self.done, self.total)


def counted(batches: Iterator[np.ndarray], bar: FrameProgress) -> Iterator[np.ndarray]:
    """The frames of ``batches`` one by one, advancing ``bar`` per batch."""
    for batch in batches:
        yield from batch
        bar.update(len(batch))
