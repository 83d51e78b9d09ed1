"""Neuron models: one file each (Params, State, a pure ``<name>_step``, a thin module)."""

from ._base import NEURONS as NEURONS
from ._base import Neuron as Neuron
from ._reset import RESETS as RESETS
from ._sequence import SEQUENCE_NEURONS as SEQUENCE_NEURONS
from ._sequence import SequenceNeuron as SequenceNeuron
from ._sequence import build_sequence_neuron as build_sequence_neuron
from ._sequence import is_sequence_neuron as is_sequence_neuron
from ._sequence import neuron_class as neuron_class
from ._sequence import neuron_names as neuron_names
from .alif import ALIF as ALIF
from .alif import ALIFParams as ALIFParams
from .alif import ALIFState as ALIFState
from .alif import alif_step as alif_step
from .astro_lif import AstroLIF as AstroLIF
from .astro_lif import AstroLIFParams as AstroLIFParams
from .astro_lif import AstroLIFState as AstroLIFState
from .astro_lif import astro_lif_step as astro_lif_step
from .burst_if import BurstIF as BurstIF
from .burst_if import BurstIFParams as BurstIFParams
from .burst_if import BurstIFState as BurstIFState
from .burst_if import burst_if_step as burst_if_step
from .cuba_li import CubaLI as CubaLI
from .cuba_li import CubaLIDecayParams as CubaLIDecayParams
from .cuba_li import CubaLIParams as CubaLIParams
from .cuba_li import CubaLIState as CubaLIState
from .cuba_li import cuba_li_step as cuba_li_step
from .cuba_lif import CubaLIF as CubaLIF
from .cuba_lif import CubaLIFDecayParams as CubaLIFDecayParams
from .cuba_lif import CubaLIFParams as CubaLIFParams
from .cuba_lif import CubaLIFState as CubaLIFState
from .cuba_lif import cuba_lif_step as cuba_lif_step
from .clif import CLIF as CLIF
from .clif import CLIFParams as CLIFParams
from .clif import CLIFState as CLIFState
from .clif import clif_step as clif_step
from .eif import EIF as EIF
from .eif import EIFParams as EIFParams
from .eif import EIFState as EIFState
from .eif import eif_step as eif_step
from .glif import GLIF as GLIF
from .glif import GLIFParams as GLIFParams
from .glif import GLIFState as GLIFState
from .glif import glif_step as glif_step
from .hdlif import HDLIF as HDLIF
from .hh import HH as HH
from .hh import HHParams as HHParams
from .hh import HHState as HHState
from .hh import hh_step as hh_step
from .ilif import ILIF as ILIF
from .ilif import ILIFParams as ILIFParams
from .ilif import ILIFState as ILIFState
from .ilif import ilif_step as ilif_step
from .klif import KLIF as KLIF
from .klif import KLIFParams as KLIFParams
from .klif import KLIFState as KLIFState
from .klif import klif_step as klif_step
from .nilif import NILIF as NILIF
from .nilif import NILIFParams as NILIFParams
from .nilif import NILIFState as NILIFState
from .nilif import nilif_step as nilif_step
from .if_ import IF as IF
from .if_ import IFParams as IFParams
from .if_ import IFState as IFState
from .if_ import if_step as if_step
from .integrator import Integrator as Integrator
from .integrator import IntegratorParams as IntegratorParams
from .integrator import IntegratorState as IntegratorState
from .integrator import integrator_step as integrator_step
from .izhikevich import Izhikevich as Izhikevich
from .izhikevich import IzhikevichParams as IzhikevichParams
from .izhikevich import IzhikevichState as IzhikevichState
from .izhikevich import izhikevich_step as izhikevich_step
from .li import LI as LI
from .li import LIDecayParams as LIDecayParams
from .li import LIParams as LIParams
from .li import LIState as LIState
from .li import li_step as li_step
from .lif import LIF as LIF
from .lif import LIFDecayParams as LIFDecayParams
from .lif import LIFParams as LIFParams
from .lif import LIFState as LIFState
from .lif import lif_step as lif_step
from .meta import MetaNeuron as MetaNeuron
from .plif import PLIF as PLIF
from .psn import PSN as PSN
from .signed_if import SignedIF as SignedIF
from .signed_if import SignedIFParams as SignedIFParams
from .signed_if import SignedIFState as SignedIFState
from .signed_if import signed_if_step as signed_if_step
from .tc_lif import TCLIF as TCLIF
from .tc_lif import TCLIFParams as TCLIFParams
from .tc_lif import TCLIFState as TCLIFState
from .tc_lif import tc_lif_step as tc_lif_step
from .ultradlif import UltraDLIF as UltraDLIF
from .ultradlif import UltraDLIFParams as UltraDLIFParams
from .ultradlif import UltraDLIFState as UltraDLIFState
from .ultradlif import ultradlif_step as ultradlif_step
from .ultralif import UltraLIF as UltraLIF
from .ultralif import UltraLIFParams as UltraLIFParams
from .ultralif import UltraLIFState as UltraLIFState
from .ultralif import ultralif_step as ultralif_step

__all__ = [
    "NEURONS", "RESETS", "Neuron",
    "SEQUENCE_NEURONS", "SequenceNeuron", "build_sequence_neuron", "is_sequence_neuron", "neuron_class",
    "neuron_names", "HDLIF", "PSN",
    "ALIF", "ALIFParams", "ALIFState", "alif_step",
    "AstroLIF", "AstroLIFParams", "AstroLIFState", "astro_lif_step",
    "BurstIF", "BurstIFParams", "BurstIFState", "burst_if_step",
    "CubaLI", "CubaLIDecayParams", "CubaLIParams", "CubaLIState", "cuba_li_step",
    "CubaLIF", "CubaLIFDecayParams", "CubaLIFParams", "CubaLIFState", "cuba_lif_step",
    "Integrator", "IntegratorParams", "IntegratorState", "integrator_step",
    "IF", "IFParams", "IFState", "if_step",
    "Izhikevich", "IzhikevichParams", "IzhikevichState", "izhikevich_step",
    "LI", "LIDecayParams", "LIParams", "LIState", "li_step",
    "LIF", "LIFDecayParams", "LIFParams", "LIFState", "lif_step",
    "PLIF",
    "SignedIF", "SignedIFParams", "SignedIFState", "signed_if_step",
    "UltraLIF", "UltraLIFParams", "UltraLIFState", "ultralif_step",
    "UltraDLIF", "UltraDLIFParams", "UltraDLIFState", "ultradlif_step",
    "CLIF", "CLIFParams", "CLIFState", "clif_step",
    "EIF", "EIFParams", "EIFState", "eif_step",
    "GLIF", "GLIFParams", "GLIFState", "glif_step",
    "HH", "HHParams", "HHState", "hh_step",
    "ILIF", "ILIFParams", "ILIFState", "ilif_step",
    "KLIF", "KLIFParams", "KLIFState", "klif_step",
    "NILIF", "NILIFParams", "NILIFState", "nilif_step",
    "MetaNeuron", "TCLIF", "TCLIFParams", "TCLIFState", "tc_lif_step",
]
