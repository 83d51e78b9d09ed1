"""The real-valued-memory variant in ``tools/l2mu_diagnosis.py`` (issue 16) against a float64 numpy
reference of its equations: the paper's L2MU with the memory population replaced by the LMU memory
m_t = Ā m_{t-1} + B̄ z^u_t, read as a value by the encoder and the hidden population."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

scipy_linalg = pytest.importorskip("scipy.linalg")

_spec = importlib.util.spec_from_file_location(
    "l2mu_diagnosis_tool", Path(__file__).resolve().parents[2] / "tools" / "l2mu_diagnosis.py")
assert _spec is not None and _spec.loader is not None
diag = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(diag)


def _zoh(d: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Ā = e^A, B̄ = A⁻¹(Ā − I)B of the Legendre system (Voelker et al. 2019), built here from scratch."""
    i, j = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    a = (2 * i + 1) * np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) / theta
    b = (2 * np.arange(d) + 1) * (-1.0) ** np.arange(d) / theta
    a_bar = scipy_linalg.expm(a)
    return a_bar, np.linalg.solve(a, (a_bar - np.eye(d)) @ b)


def test_float_memory_variant_matches_a_float64_reference() -> None:
    torch.manual_seed(5)  # every population fires at this seed
    net = diag.L2MU(3, hidden_size=5, output_size=2, encoder_size=2, order=3, theta=4.0).double()
    with torch.no_grad():
        for name in ("e_x", "e_h", "e_m", "w_x", "w_h", "w_m", "w_o"):
            getattr(net, name).copy_(torch.randn_like(getattr(net, name)))
    model = diag.FloatMemoryL2MU(net)
    x = torch.rand(20, 4, 3, dtype=torch.float64) * 2
    out, state = model.run(x)

    p = {k: v.detach().numpy() for k, v in net.named_parameters()}
    beta, th = 1 / (1 + np.exp(-p["beta_raw"])), p["v_th"]
    a_bar, b_bar = _zoh(3, 4.0)
    B = x.shape[1]
    U = [np.zeros((B, n)) for n in (2, 5, 2)]  # encoder, hidden, output membranes
    m, zh, outs = np.zeros((B, 2, 3)), np.zeros((B, 5)), []

    def leaky(k: int, k_th: int, cur: np.ndarray) -> np.ndarray:
        U[k] = beta[k_th] * U[k] + cur - th[k_th] * (U[k] > th[k_th])
        return (U[k] > th[k_th]).astype(np.float64)

    xn = x.numpy()
    for t in range(x.shape[0]):
        zu = leaky(0, 0, xn[t] @ p["e_x"].T + zh @ p["e_h"].T + m.reshape(B, 6) @ p["e_m"].T)
        m = m @ a_bar.T + zu[:, :, None] * b_bar  # per channel: m_t = Ā m_{t-1} + B̄ z^u_t
        zh = leaky(1, 2, xn[t] @ p["w_x"].T + zh @ p["w_h"].T + m.reshape(B, 6) @ p["w_m"].T)
        outs.append(leaky(2, 3, zh @ p["w_o"].T + p["b_o"]))
    ref = np.stack(outs)
    assert 0.05 < ref.mean() < 0.95  # the output spikes, so the comparison means something
    np.testing.assert_array_equal(out.detach().numpy(), ref)
    # the layer stores Ā, B̄ as float32 buffers (rounding ~1e-8 per entry), the reference in float64
    np.testing.assert_allclose(state.zm.detach().numpy(), m.reshape(B, 6), rtol=0, atol=1e-6)
    assert np.abs(m).max() > 0.1
    # and it is not the paper's spiking memory on this input
    assert not torch.equal(net.run(x)[1].zm, state.zm)
