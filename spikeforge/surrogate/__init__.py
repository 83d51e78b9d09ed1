"""Surrogate gradients: Heaviside forward, smooth derivative backward."""

from ._base import SpikeFn as SpikeFn
from ._base import Surrogate as Surrogate
from ._base import heaviside as heaviside
from .functions import SURROGATES as SURROGATES
from .functions import ATan as ATan
from .functions import Custom as Custom
from .functions import Erf as Erf
from .functions import FastSigmoid as FastSigmoid
from .functions import PiecewiseQuadratic as PiecewiseQuadratic
from .functions import QPseudoSpike as QPseudoSpike
from .functions import Rectangle as Rectangle
from .functions import Sigmoid as Sigmoid
from .functions import StraightThrough as StraightThrough
from .functions import Triangle as Triangle
from .functions import get_surrogate as get_surrogate
from .pdsg import PDSG as PDSG
from .pdsg import membrane_sigma as membrane_sigma

__all__ = [
    "SURROGATES", "ATan", "Custom", "Erf", "FastSigmoid", "PiecewiseQuadratic", "QPseudoSpike", "Rectangle",
    "PDSG", "Sigmoid", "SpikeFn", "StraightThrough", "Surrogate", "Triangle", "get_surrogate", "heaviside",
    "membrane_sigma",
]
