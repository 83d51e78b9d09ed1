"""Time-major building blocks: time folding, sequence norms, shared-mask dropout, recurrence,
synaptic delays, an event-driven linear layer, NIR's elementwise primitives, and containers that
thread state (a sequence, or a graph)."""

from .active_dendrite import ActiveDendrite as ActiveDendrite
from .active_dendrite import active_dendrite as active_dendrite
from .active_dendrite import k_winners_take_all as k_winners_take_all
from .ctm_nlm import CTMNeuronModels as CTMNeuronModels
from .ctm_nlm import nlm_step as nlm_step
from .ctm_sync import CTMSync as CTMSync
from .ctm_sync import ctm_certainty as ctm_certainty
from .ctm_sync import ctm_loss as ctm_loss
from .ctm_sync import ctm_sync_step as ctm_sync_step
from .dcls import DelayLinear as DelayLinear
from .dcls import LearnableDelay as LearnableDelay
from .dcls import delay_param_groups as delay_param_groups
from .dcls import delay_taps as delay_taps
from .dcls import sigma_schedule as sigma_schedule
from .delay import Delay as Delay
from .delrec import DelayedRecurrentSpiking as DelayedRecurrentSpiking
from .delrec import DelRecState as DelRecState
from .delrec import delrec_mask as delrec_mask
from .delay import DelayState as DelayState
from .delta import DeltaActivation as DeltaActivation
from .delta import delta_accumulate as delta_accumulate
from .delta import delta_activation as delta_activation
from .dropout import SequenceDropout as SequenceDropout
from .egru import EGRU as EGRU
from .egru import EGRUState as EGRUState
from .egru import egru_step as egru_step
from .ei import EILinear as EILinear
from .ei import build_ei_mlp as build_ei_mlp
from .ei import ei_current as ei_current
from .ei_conv import EIConv2d as EIConv2d
from .ei_conv import ei_conv_current as ei_conv_current
from .elm import ELM as ELM
from .elm import ELMState as ELMState
from .elm import elm_step as elm_step
from .dropout import sequence_dropout as sequence_dropout
from .graph import ModuleGraph as ModuleGraph
from .l2mu import L2MU as L2MU
from .l2mu import L2MUState as L2MUState
from .l2mu import l2mu_step as l2mu_step
from .nir_prims import Scale as Scale
from .nir_prims import SumPool2d as SumPool2d
from .nir_prims import Threshold as Threshold
from .norm import BNTT as BNTT
from .norm import TDBatchNorm as TDBatchNorm
from .norm import td_batch_norm as td_batch_norm
from .recurrent import RecurrentSpiking as RecurrentSpiking
from .recurrent import RecurrentState as RecurrentState
from .sequential import SpikingSequential as SpikingSequential
from .sequential import is_stateful as is_stateful
from .sparse_linear import EventLinear as EventLinear
from .time import TimeDistributed as TimeDistributed

__all__ = [
    "BNTT", "Delay", "DelayLinear", "DelayState", "LearnableDelay", "delay_param_groups", "delay_taps",
    "sigma_schedule", "DelayedRecurrentSpiking", "DelRecState", "delrec_mask",
    "EventLinear", "ModuleGraph", "RecurrentSpiking", "RecurrentState",
    "Scale", "SequenceDropout", "SpikingSequential", "SumPool2d", "TDBatchNorm", "Threshold",
    "TimeDistributed", "is_stateful", "sequence_dropout", "td_batch_norm",
    "DeltaActivation", "delta_accumulate", "delta_activation", "EGRU", "EGRUState", "egru_step",
    "ELM", "ELMState", "elm_step",
    "L2MU", "L2MUState", "l2mu_step",
    "CTMNeuronModels", "nlm_step",
    "CTMSync", "ctm_certainty", "ctm_loss", "ctm_sync_step", "EILinear", "build_ei_mlp", "ei_current",
    "EIConv2d", "ei_conv_current",
    "ActiveDendrite", "active_dendrite", "k_winners_take_all",
]
