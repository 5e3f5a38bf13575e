"""Evaluation: video reconstruction (:func:`reconstruct`) and the paper's metrics.

* :mod:`.metrics`: L1, AKD, MKR and AED frame by frame, with every formula;
* :mod:`.keypoints`: the keypoint extractors (faces: dlib; bodies: MediaPipe Pose);
* :mod:`.compare`: :class:`Evaluator`, generated frames against reference frames;
* :mod:`.evaluate`: :func:`evaluate`, videos and folders of them from files (``tpsmm
  evaluate``);
* :mod:`.reconstruct`: the paper's reconstruction protocol (``tpsmm reconstruct``),
  with the metrics when asked.

>>> from tpsmm.evaluation import evaluate
>>> report = evaluate("generated/", "reference/", kind="face", out="report.json")
>>> report["overall"]["akd"]
"""

from tpsmm.evaluation.compare import METRIC_CHOICES, Evaluator, VideoEvaluation, parse_metrics
from tpsmm.evaluation.evaluate import evaluate, format_table, match_clips, write_report
from tpsmm.evaluation.keypoints import BodyKeypoints, FaceKeypoints, KeypointExtractor
from tpsmm.evaluation.metrics import METRICS, FramePoints, MetricTotals
from tpsmm.evaluation.reconstruct import REPORT_NAME, reconstruct, reconstruct_video

__all__ = [
    "METRICS",
    "METRIC_CHOICES",
    "REPORT_NAME",
    "BodyKeypoints",
    "Evaluator",
    "FaceKeypoints",
    "FramePoints",
    "KeypointExtractor",
    "MetricTotals",
    "VideoEvaluation",
    "evaluate",
    "format_table",
    "match_clips",
    "parse_metrics",
    "reconstruct",
    "reconstruct_video",
    "write_report",
]
