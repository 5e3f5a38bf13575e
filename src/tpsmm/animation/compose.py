"""What the animation job writes for each animated frame: the frame itself, pasted back
into the full source image (``paste_back``), side by side with the source and the
driving input (``side_by_side``).

A motion file has no driving frames: the side-by-side view shows its keypoints as dots
(:func:`keypoint_pictures`).
"""

from __future__ import annotations

import numpy as np

from tpsmm.animation.driving import DrivingBatch
from tpsmm.animation.paste import PasteBack
from tpsmm.media.fit import resize_box


def side_by_side_frames(source: np.ndarray, driving: np.ndarray, result: np.ndarray) -> np.ndarray:
    """source | driving | result for a batch.

    Args:
        source: (S, S, 3) uint8; driving, result: (B, S, S, 3) uint8.

    Returns:
        (B, S, 3S, 3) uint8.
    """
    sources = np.broadcast_to(source, driving.shape)
    return np.concatenate([sources, driving, result], axis=2)


class FrameComposer:
    """Turns animated frames into output frames for one source.

    Args:
        source: (S, S, 3) uint8, the source as the model sees it.
        image: (H, W, 3) uint8, the full source image.
        paster: pastes animated frames back into ``image``; None: the output is the
            animated frames themselves.
    """

    def __init__(self, source: np.ndarray, image: np.ndarray, paster: PasteBack | None):
        self.source, self.image, self.paster = source, image, paster
        self.size = source.shape[0]

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the composed frames without side by side."""
        return self.paster.output_size if self.paster is not None else (self.size, self.size)

    @property
    def needs_originals(self) -> bool:
        """Whether side by side shows the decoded driving frames (with paste-back)."""
        return self.paster is not None

    def compose(self, batch: DrivingBatch, result: np.ndarray, side_by_side: bool) -> np.ndarray:
        """The output frames for animated ``result`` (B, S, S, 3) uint8: pasted back into
        the source when there is a paster, side by side with the source and the driving
        input when asked (the driving frames, or the keypoints of a motion file)."""
        if self.paster is not None:
            result = self.paster.paste_batch(result)
        if not side_by_side:
            return result
        if self.paster is None:
            driving = (
                batch.frames if batch.frames is not None else keypoint_pictures(batch, self.size)
            )
            return side_by_side_frames(self.source, driving, result)
        height = self.image.shape[0]
        if batch.originals is not None:
            driving = np.stack([_scaled_to_height(frame, height) for frame in batch.originals])
        else:
            driving = np.stack(
                [_scaled_to_height(p, height) for p in keypoint_pictures(batch, self.size)]
            )
        sources = np.broadcast_to(self.image, result.shape)
        return np.concatenate([sources, driving, result], axis=2)


def keypoint_pictures(batch: DrivingBatch, size: int) -> np.ndarray:
    """The driving keypoints of a batch drawn as dots on grey, (B, S, S, 3) uint8: what
    the side-by-side view shows for a motion file, which has no frames."""
    assert batch.keypoints is not None
    pictures = np.full((len(batch.keypoints), size, size, 3), 64, np.uint8)
    radius = max(1, size // 96)
    colours = _keypoint_colours(batch.keypoints.shape[1] // 5)
    for picture, points in zip(pictures, batch.keypoints, strict=True):
        pixels = np.clip(np.round((points + 1) * (size - 1) / 2).astype(int), 0, size - 1)
        for index, (x, y) in enumerate(pixels):
            picture[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = (
                colours[index // 5]
            )
    return pictures


def _keypoint_colours(count: int) -> np.ndarray:
    """``count`` distinct bright colours, (count, 3) uint8 (one per TPS)."""
    hues = np.arange(count) / max(count, 1)
    channels = [np.abs(((hues * 6 + shift) % 6) - 3) - 1 for shift in (0, 4, 2)]
    return (np.clip(np.stack(channels, axis=1), 0, 1) * 195 + 60).astype(np.uint8)


def _scaled_to_height(frame: np.ndarray, height: int) -> np.ndarray:
    """An (h, w, 3) frame resized to ``height`` rows, keeping its proportions."""
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return resize_box(frame, (0, 0, frame.shape[1], frame.shape[0]), (width, height))
