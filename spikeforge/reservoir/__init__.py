"""Reservoir computing: connectivity generators, echo state networks, spiking liquids, readouts, metrics.

Example:
    >>> import torch
    >>> from spikeforge.reservoir import ESN, Ridge
    >>> from spikeforge.reservoir.tasks import narma10
    >>> u, y = narma10(600)
    >>> x = ESN(50, 1, spectral_radius=0.9, seed=0)(u[:, None, None])[:, 0]   # [T, N]
    >>> r = Ridge(1e-6).fit(x[100:400], y[100:400])
"""

from __future__ import annotations

from . import connectivity as connectivity
from . import metrics as metrics
from . import separation as separation
from . import tasks as tasks
from .connectivity import MAASS_C as MAASS_C
from .connectivity import dale_weights as dale_weights
from .connectivity import grid_mask as grid_mask
from .connectivity import input_projection as input_projection
from .connectivity import random_sparse as random_sparse
from .connectivity import scale_spectral_radius as scale_spectral_radius
from .connectivity import spectral_radius as spectral_radius
from ..plasticity.astrocyte import Astrocyte as Astrocyte
from .ei import EIReservoir as EIReservoir
from .esn import ESN as ESN
from .forecast import ESNForecaster as ESNForecaster
from .liquid import Liquid as Liquid
from .liquid import exp_filter as exp_filter
from .maass import LSM as LSM
from .maass import MaassConfig as MaassConfig
from .nalsm import NALSM as NALSM
from .nalsm import NALSMConfig as NALSMConfig
from .logistic import Logistic as Logistic
from .logistic import RidgeClassifier as RidgeClassifier
from .readout import Ridge as Ridge
from .rls import RLS as RLS
from .stp import TsodyksMarkram as TsodyksMarkram
from .stp import tm_step as tm_step

__all__ = [
    "LSM", "Logistic", "RLS", "RidgeClassifier", "MaassConfig", "TsodyksMarkram", "tm_step",
    "Astrocyte", "EIReservoir", "ESNForecaster", "NALSM", "NALSMConfig",
    "ESN", "MAASS_C", "Liquid", "Ridge", "connectivity", "dale_weights", "exp_filter", "grid_mask",
    "input_projection", "metrics", "separation", "random_sparse", "scale_spectral_radius", "spectral_radius", "tasks",
]
