"""Local plasticity: STDP family, Hebbian rate rules, three-factor rules, and the layer that applies them.

A rule is a pure function over explicit trace state, ``(pre, post, traces, w, params) -> (dw, traces)``,
with a thin :class:`Rule` object holding its parameters; :class:`PlasticLayer` attaches a rule to a
``nn.Linear``/``nn.Conv1d``/``nn.Conv2d`` and its neuron and applies ``dw`` under ``torch.no_grad`` (every
step or per sequence) or writes ``-dw`` into ``.grad`` so any torch optimizer applies it. Rules are
registered in :data:`PLASTICITY` (``spikeforge list plasticity``).

Example:
    >>> from spikeforge.plasticity import PLASTICITY
    >>> "stdp" in PLASTICITY
    True
"""

from ._base import PLASTICITY as PLASTICITY
from ._base import WEIGHT_DEPENDENCE as WEIGHT_DEPENDENCE
from ._base import Rule as Rule
from ._base import decay_factor as decay_factor
from ._base import trace_update as trace_update
from .astrocyte import AstroSTDP as AstroSTDP
from .astrocyte import Astrocyte as Astrocyte
from .astrocyte import astro_stdp_step as astro_stdp_step
from .astrocyte import astrocyte_step as astrocyte_step
from .attach import PlasticLayer as PlasticLayer
from .attach import PlasticState as PlasticState
from .constraints import apply_dale_ as apply_dale_
from .constraints import clamp_ as clamp_
from .constraints import dale_signs as dale_signs
from .constraints import normalize_incoming_ as normalize_incoming_
from .hebbian import BCM as BCM
from .hebbian import BCMParams as BCMParams
from .hebbian import BCMState as BCMState
from .hebbian import Oja as Oja
from .hebbian import OjaParams as OjaParams
from .hebbian import OjaState as OjaState
from .hebbian import bcm_step as bcm_step
from .hebbian import oja_step as oja_step
from .ssdp import SSDP as SSDP
from .ssdp import SSDPParams as SSDPParams
from .ssdp import SSDPState as SSDPState
from .ssdp import ssdp_step as ssdp_step
from .ssdp import ssdp_update as ssdp_update
from .hlop import HLOP as HLOP
from .hlop import HLOPParams as HLOPParams
from .hlop import HLOPRule as HLOPRule
from .hlop import HLOPState as HLOPState
from .hlop import hlop_step as hlop_step
from .stdp import STDP as STDP
from .stdp import STDPParams as STDPParams
from .stdp import STDPState as STDPState
from .stdp import stdp_step as stdp_step
from .tempotron import Tempotron as Tempotron
from .tempotron import TempotronParams as TempotronParams
from .tempotron import TempotronState as TempotronState
from .tempotron import fit_tempotron as fit_tempotron
from .tempotron import tempotron_kernel as tempotron_kernel
from .tempotron import tempotron_psp as tempotron_psp
from .tempotron import tempotron_step as tempotron_step
from .three_factor import MSTDP as MSTDP
from .three_factor import MSTDPET as MSTDPET
from .three_factor import MSTDPETParams as MSTDPETParams
from .three_factor import MSTDPETState as MSTDPETState
from .three_factor import MSTDPParams as MSTDPParams
from .three_factor import MSTDPState as MSTDPState
from .three_factor import ThreeFactor as ThreeFactor
from .three_factor import ThreeFactorParams as ThreeFactorParams
from .three_factor import ThreeFactorState as ThreeFactorState
from .three_factor import mstdp_step as mstdp_step
from .three_factor import mstdpet_step as mstdpet_step
from .three_factor import three_factor_step as three_factor_step
from .triplet import TRIPLET_SETS as TRIPLET_SETS
from .triplet import TripletParams as TripletParams
from .triplet import TripletState as TripletState
from .triplet import TripletSTDP as TripletSTDP
from .triplet import triplet_stdp_step as triplet_stdp_step

__all__ = [
    "PLASTICITY", "WEIGHT_DEPENDENCE", "Rule", "PlasticLayer", "PlasticState", "decay_factor", "trace_update",
    "apply_dale_", "clamp_", "dale_signs", "normalize_incoming_",
    "AstroSTDP", "Astrocyte", "astro_stdp_step", "astrocyte_step",
    "BCM", "BCMParams", "BCMState", "bcm_step", "Oja", "OjaParams", "OjaState", "oja_step",
    "HLOP", "HLOPParams", "HLOPRule", "HLOPState", "hlop_step",
    "SSDP", "SSDPParams", "SSDPState", "ssdp_step", "ssdp_update",
    "STDP", "STDPParams", "STDPState", "stdp_step",
    "MSTDP", "MSTDPParams", "MSTDPState", "mstdp_step", "MSTDPET", "MSTDPETParams", "MSTDPETState", "mstdpet_step",
    "ThreeFactor", "ThreeFactorParams", "ThreeFactorState", "three_factor_step",
    "Tempotron", "TempotronParams", "TempotronState", "fit_tempotron", "tempotron_kernel", "tempotron_psp",
    "tempotron_step",
    "TRIPLET_SETS", "TripletParams", "TripletState", "TripletSTDP", "triplet_stdp_step",
]
