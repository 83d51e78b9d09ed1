"""Root conftest: the names shared by the docstring examples run with ``--doctest-modules``.

Examples may use ``torch``, ``nn``, ``sf``, the neuron classes ``LIF``/``LI``, the monitor
``trace``, NIR's ``to_nir``, and a small network ``net`` with an input ``xs`` (``[T=10, B=3, 4]``).
They run in a temporary directory, so files they write do not land in the repository.
"""

from __future__ import annotations

import pytest
import torch


def _keep_pytest_doctest_module() -> None:
    """Importing brian2 (a test peer) replaces ``_pytest.doctest.DoctestModule`` with a subclass whose
    ``collect`` fails on package ``__init__`` modules. Import it now and put pytest's class back, so the
    doctests of ``spikeforge/**/__init__.py`` collect whatever test imported brian2 first."""
    from _pytest import doctest as pytest_doctest

    original = pytest_doctest.DoctestModule
    try:
        from spikeforge.sim.brian2_peer import import_brian2  # brian2 2.9.0 needs a fix to import on numpy 2.4

        import_brian2()
    except ImportError:
        return
    finally:
        pytest_doctest.DoctestModule = original  # type: ignore[misc]


_keep_pytest_doctest_module()


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


def pytest_ignore_collect(collection_path, config):  # type: ignore[no-untyped-def]
    """conftest.py files hold fixtures, not doctests: collecting two of them as doctest modules by the
    same basename (``tests/kernels``, ``tests/sim``, ...) fails when their folders are named together."""
    return True if collection_path.name == "conftest.py" else None
