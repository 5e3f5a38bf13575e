"""Evaluation protocols: video reconstruction (:func:`reconstruct`)."""

from tpsmm.evaluation.reconstruct import REPORT_NAME, reconstruct, reconstruct_video

__all__ = ["REPORT_NAME", "reconstruct", "reconstruct_video"]
