"""The TPSMM model: the five networks under the authors' checkpoint names.

``TPSMM.state_dict()`` has exactly the keys ``<module>.<key>`` of the authors' checkpoint
layout (kp_detector, dense_motion_network, inpainting_network, bg_predictor when the
config has one, avd_network). Images are (B, 3, H, W) float in [0, 1]; keypoints are
(B, K*5, 2) in [-1, 1] (see :mod:`tpsmm.geometry` for the conventions).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from tpsmm.config import Config, load_config
from tpsmm.errors import TPSMMError
from tpsmm.networks import (
    AVDNetwork,
    BackgroundPredictor,
    DenseMotionNetwork,
    InpaintingNetwork,
    KeypointDetector,
)


class SourceState(NamedTuple):
    """Everything about a source image that does not depend on the driving frame.

    Attributes:
        image: (1, 3, H, W) in [0, 1].
        keypoints: (1, K*5, 2).
        features: the inpainting encoder's feature maps of the source (fine to coarse).
        small: the source downsampled for the dense motion network (1, 3, h, w).
    """

    image: Tensor
    keypoints: Tensor
    features: list[Tensor]
    small: Tensor


class TPSMM(nn.Module):
    """Keypoint detector, dense motion, inpainting, optional background predictor and AVD
    networks of one configuration.

    Attributes:
        config: the :class:`tpsmm.config.Config` it was built from.
        avd_available: False when the weights came from a file without an AVD network;
            :meth:`avd` then refuses instead of using random weights.
    """

    def __init__(self, config: Config | str | None = None):
        super().__init__()
        config = load_config(config)
        self.config = config
        model = config.model_params
        common = model.common_params
        gen = model.generator_params
        dense = model.dense_motion_params
        self.kp_detector = KeypointDetector(
            common.num_tps,
            common.num_channels,
            width=common.resnet_width,
            head=common.keypoint_head,
        )
        self.dense_motion_network = DenseMotionNetwork(
            block_expansion=dense.block_expansion,
            num_blocks=dense.num_blocks,
            max_features=dense.max_features,
            num_tps=common.num_tps,
            num_channels=common.num_channels,
            scale_factor=dense.scale_factor,
            multi_mask=common.multi_mask,
            kp_variance=dense.kp_variance,
        )
        self.inpainting_network = InpaintingNetwork(
            num_channels=common.num_channels,
            block_expansion=gen.block_expansion,
            max_features=gen.max_features,
            num_down_blocks=gen.num_down_blocks,
            multi_mask=common.multi_mask,
        )
        self.avd_network = AVDNetwork(
            common.num_tps,
            model.avd_network_params.id_bottle_size,
            model.avd_network_params.pose_bottle_size,
        )
        self.bg_predictor = (
            BackgroundPredictor(common.num_channels, width=common.resnet_width)
            if common.bg
            else None
        )
        self.avd_available = True

    @property
    def num_tps(self) -> int:
        return self.config.common.num_tps

    @property
    def frame_size(self) -> int:
        """The square frame size the configuration was trained at (256 or 384)."""
        return self.config.frame_size

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype of the dense motion and inpainting networks' convolutions."""
        return self.inpainting_network.final.weight.dtype

    def set_compute_dtype(self, dtype: torch.dtype) -> TPSMM:
        """Run the dense motion and inpainting networks (about 98% of the work) in
        ``dtype`` (float32, bfloat16 or float16), in place; returns the model.

        The keypoint detector, background predictor and AVD network stay float32 (their
        outputs place the TPS control points), as do the geometry (TPS solve, grids,
        sampling coordinates, heatmaps, softmax blending), the anti-aliasing filter and
        the final composition with the warped source, so reduced precision only touches
        feature maps. Converting to a lower precision rounds the weights: reload the
        checkpoint rather than converting back to float32.
        """
        if dtype not in (torch.float32, torch.bfloat16, torch.float16):
            raise TPSMMError(f"unsupported compute dtype {dtype}; use float32, bfloat16 or float16")
        self.dense_motion_network.to(dtype)
        self.inpainting_network.to(dtype)
        if hasattr(self.dense_motion_network, "down"):
            self.dense_motion_network.down.float()
        return self

    def keypoints(self, images: Tensor) -> Tensor:
        """(B, 3, H, W) in [0, 1] -> keypoints (B, K*5, 2) in [-1, 1]."""
        return self.kp_detector(images)

    def background(self, source: Tensor, driving: Tensor) -> Tensor:
        """Background matrices (B, 3, 3) mapping driving to source coordinates."""
        if self.bg_predictor is None:
            raise TPSMMError(
                f"config {self.config.name or ''} has no background predictor "
                "(model_params.common_params.bg is false)".replace("  ", " ")
            )
        return self.bg_predictor(source, driving)

    def motion(
        self,
        source: Tensor,
        kp_source: Tensor,
        kp_driving: Tensor,
        bg_param: Tensor | None = None,
        *,
        dropout_p: float | None = None,
    ) -> dict[str, Tensor | list[Tensor]]:
        """The dense motion network's outputs.

        Args:
            source: (B or 1, 3, H, W) in [0, 1]; a single source is shared by every row.
            kp_source: (B or 1, K*5, 2); kp_driving: (B, K*5, 2).
            bg_param: optional (B, 3, 3) background matrices.
            dropout_p: TPS dropout probability (training only); None = softmax.

        Returns:
            'deformation' (B, h, w, 2), 'contribution_maps' (B, K+1, h, w),
            'occlusion_maps' list of (B, 1, *, *) coarse to fine, 'deformed_source'.
        """
        batch = kp_driving.shape[0]
        return self.dense_motion_network(
            source.expand(batch, *source.shape[1:]),
            kp_source.expand(batch, *kp_source.shape[1:]),
            kp_driving,
            bg_param,
            dropout_p=dropout_p,
        )

    def generate(
        self,
        source: Tensor,
        kp_source: Tensor,
        kp_driving: Tensor,
        bg_param: Tensor | None = None,
    ) -> Tensor:
        """Animated frames (B, 3, H, W) in [0, 1] for driving keypoints (B, K*5, 2).

        ``source`` may hold one image for all B rows; its features are then computed
        once, not B times.
        """
        motion = self.motion(source, kp_source, kp_driving, bg_param)
        features = self.inpainting_network.encode(source)
        return self.inpainting_network.decode(
            source, features, motion["deformation"], motion["occlusion_maps"]
        ).prediction

    def avd(self, kp_source: Tensor, kp_driving: Tensor) -> Tensor:
        """AVD keypoints (B, K*5, 2): the source's identity with the driving pose."""
        self.require_avd()
        return self.avd_network(kp_source.expand(kp_driving.shape[0], -1, -1), kp_driving)

    def require_avd(self) -> None:
        """Raise a one-line error when the weights have no trained AVD network."""
        if not self.avd_available:
            raise TPSMMError(
                "avd mode needs an AVD network, and this checkpoint has none "
                "(train one with `tpsmm train-avd`, or use --mode relative)"
            )

    def prepare_source(self, source: Tensor) -> SourceState:
        """Per-source work done once: keypoints, encoder features, downsampled image.

        Args:
            source: (1, 3, H, W) in [0, 1].
        """
        return SourceState(
            image=source,
            keypoints=self.kp_detector(source),
            features=self.inpainting_network.encode(source),
            small=self.dense_motion_network.downsample(source),
        )

    def motion_from_source(
        self, state: SourceState, kp_driving: Tensor, bg_param: Tensor | None = None
    ) -> dict[str, Tensor | list[Tensor]]:
        """The dense motion network's outputs (see :meth:`motion`) for keypoints
        (B, K*5, 2) from a prepared source, without re-downsampling the source."""
        batch = kp_driving.shape[0]
        return self.dense_motion_network(
            state.image.expand(batch, *state.image.shape[1:]),
            state.keypoints.expand(batch, *state.keypoints.shape[1:]),
            kp_driving,
            bg_param,
            source_small=state.small.expand(batch, *state.small.shape[1:]),
        )

    def generate_from_motion(
        self, state: SourceState, motion: dict[str, Tensor | list[Tensor]]
    ) -> Tensor:
        """Frames (B, 3, H, W) in [0, 1] from a prepared source and the outputs of
        :meth:`motion_from_source`."""
        deformation = motion["deformation"]
        assert isinstance(deformation, Tensor)
        image = state.image.expand(deformation.shape[0], *state.image.shape[1:])
        return self.inpainting_network.decode(
            image, state.features, deformation, motion["occlusion_maps"]
        ).prediction

    def generate_from_source(
        self, state: SourceState, kp_driving: Tensor, bg_param: Tensor | None = None
    ) -> Tensor:
        """Frames (B, 3, H, W) in [0, 1] for keypoints (B, K*5, 2) from a prepared source;
        equal to :meth:`generate` without re-encoding the source."""
        return self.generate_from_motion(
            state, self.motion_from_source(state, kp_driving, bg_param)
        )
