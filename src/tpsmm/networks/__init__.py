"""The networks of TPSMM in plain torch (no torchvision), with the authors' parameter
names: reusable layers in :mod:`.layers`, backbones in :mod:`.backbones`, one module per
network."""

from tpsmm.networks.avd import AVDNetwork
from tpsmm.networks.backbones import ResNet18, VGG19Features
from tpsmm.networks.background import BackgroundPredictor
from tpsmm.networks.dense_motion import DenseMotionNetwork, tps_dropout_softmax
from tpsmm.networks.inpainting import InpaintingNetwork, InpaintingOutput
from tpsmm.networks.keypoint_detector import KeypointDetector

__all__ = [
    "AVDNetwork",
    "BackgroundPredictor",
    "DenseMotionNetwork",
    "InpaintingNetwork",
    "InpaintingOutput",
    "KeypointDetector",
    "ResNet18",
    "VGG19Features",
    "tps_dropout_softmax",
]
