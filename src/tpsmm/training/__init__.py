"""Training the generator (keypoint detector, dense motion, inpainting and background
networks): :class:`GeneratorObjective` computes one batch's forward and weighted losses,
:func:`generator_losses` is its functional form."""

from tpsmm.training.objective import (
    LOSS_NAMES,
    GeneratorObjective,
    as_train_params,
    generator_losses,
)

__all__ = ["LOSS_NAMES", "GeneratorObjective", "as_train_params", "generator_losses"]
