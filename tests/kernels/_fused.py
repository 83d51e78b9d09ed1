"""The neurons the kernel tests cover, derived from the registry: every registered neuron class
whose step function has a kernel spec, so a new fused neuron is tested without editing a test."""

from __future__ import annotations

from spikeforge.kernels.specs import spec_for
from spikeforge.neurons import NEURONS as REGISTRY


def fused_neurons(spiking: bool) -> dict[str, type]:
    """``{registry name: class}`` of the fused neurons that spike (or, ``spiking=False``, read out ``v``)."""
    classes = {name: REGISTRY.get(name) for name in REGISTRY.names()}
    return {name: cls for name, cls in classes.items()
            if spec_for(cls.step_fn) is not None and bool(cls.spiking) == spiking}


NEURONS = fused_neurons(spiking=True)
READOUTS = fused_neurons(spiking=False)
