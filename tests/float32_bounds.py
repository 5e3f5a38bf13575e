"""What float32 rounding can do: the tolerances of tests that compare two float32
computations of the same quantity (another memory layout, batch, kernel or CPU).

Two evaluations of one formula that differ only in the order of their operations (the
vector width of the CPU, oneDNN's blocking, channels_last, a fused kernel) differ by
rounding alone, and by how much depends on the computation, not on a machine:

* a sum of ``n`` float32 terms, in any order, is within ``gamma(n) * sum(|terms|)`` of
  the exact sum (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed.,
  eq. 4.4; ``gamma(n) = n u / (1 - n u)``, ``u = 2**-24``): two orders differ by at
  most twice that (:func:`sum_bound`);
* a network: each output of a convolution or linear layer is a sum of ``n`` (its fan-in)
  products; with rounding errors that behave as independent random variables, such a
  sum is within ``lam * sqrt(n) * u`` of exact relative to the size of its terms, except
  with probability ``2 exp(-lam**2 / 2)`` (Higham & Mary, "A new approach to
  probabilistic rounding error analysis", SIAM J. Sci. Comput. 41(5), 2019). Through a
  normalised network (gains near 1) the relative errors of independent layers add in
  quadrature, so an output's relative rounding noise is ``lam * u * sqrt(sum of the
  fan-ins)`` (:func:`network_rtol`, ``lam = 5``: a sum exceeds its bound with probability
  below 1e-5). It is computed from the modules the quantity passes through, so it
  follows the architecture and not one machine's result.

For the vox-256 networks this gives 1.4e-4, the size of the authors' own spread between
thread layouts that ``../shared/reference/README.md`` quotes for frames (1e-4 mean); for
the tiny test model 8.6e-5.
"""

from __future__ import annotations

import math

from torch import nn

#: Unit roundoff of float32 (half the distance from 1 to the next float32).
U = 2.0**-24
#: Probabilistic bound factor (Higham & Mary): a sum's error exceeds
#: ``LAM * sqrt(n) * u`` (relative) with probability below 2 exp(-LAM**2 / 2) = 7.5e-6.
LAM = 5.0


def gamma(n: int) -> float:
    """Higham's ``gamma_n = n u / (1 - n u)``: the relative bound of an n-term float32
    sum in any order, relative to the sum of the absolute terms."""
    return n * U / (1 - n * U)


def sum_bound(n: int, absolute_sum: float) -> float:
    """The largest difference between two float32 evaluations (any orders) of a sum of
    ``n`` terms whose absolute values add up to ``absolute_sum``."""
    return 2 * gamma(n) * absolute_sum


def sum_rtol(n: int, lam: float = LAM) -> float:
    """Probabilistic relative error of an n-term float32 sum, relative to the sum of its
    absolute terms (Higham & Mary): ``lam * sqrt(n) * u``."""
    return lam * math.sqrt(n) * U


def fan_ins(*modules: nn.Module) -> list[int]:
    """The fan-in (products per output) of every convolution and linear layer."""
    return [
        layer.weight[0].numel()
        for module in modules
        for layer in module.modules()
        if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    ]


def network_rtol(*modules: nn.Module, lam: float = LAM) -> float:
    """Relative rounding noise of a float32 output computed through ``modules`` (see the
    module docstring): ``lam * u * sqrt(sum of the fan-ins)``."""
    return sum_rtol(sum(fan_ins(*modules)), lam)
