"""Root conftest: the names shared by the docstring examples run with ``--doctest-modules``.

Examples may use ``torch``, ``nn``, ``sf``, the neuron classes ``LIF``/``LI``, the monitor
``trace``, NIR's ``to_nir``, and a small network ``net`` with an input ``xs`` (``[T=10, B=3, 4]``).
They run in a temporary directory, so files they write do not land in the repository.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _doctest_names(request: pytest.FixtureRequest) -> None:
    if not isinstance(request.node, pytest.DoctestItem):
        return
    import spikeforge
    from spikeforge.interop import to_nir
    from spikeforge.monitors import trace
    from spikeforge.neurons import LI, LIF

    torch.manual_seed(0)
    request.getfixturevalue("monkeypatch").chdir(request.getfixturevalue("tmp_path"))
    ns = request.getfixturevalue("doctest_namespace")
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), LIF(), torch.nn.Linear(8, 2), LI())
    ns.update(torch=torch, nn=torch.nn, sf=spikeforge, LIF=LIF, LI=LI, trace=trace, to_nir=to_nir,
              net=net, xs=torch.rand(10, 3, 4) * 3)
