"""Dynamic Confidence works with any classifier in the zoo (issue 16).

For every tiny zoo member (driven by the model registry) on time-major images ``[T, B, C, H, W]``:
the agent's per-threshold results equal an independent computation — exit steps from
:func:`dynamic_confidence` on the full run, and SynOps from profiling every sample alone on its
own prefix ``xs[:t*]`` — and ``C_th >= 1`` never exits early (nothing saved).
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.inference import dynamic_confidence, evaluate_dynamic_confidence
from spikeforge.metrics import profile
from spikeforge.models import MODELS, create_model

pytestmark = pytest.mark.usefixtures("one_thread")  # many small per-step ops
TINY = [n for n in MODELS.names() if MODELS.meta(n).get("kind") == "zoo" and n.endswith("_tiny")]


@pytest.mark.parametrize("name", TINY)
def test_dynamic_confidence_on_every_tiny_zoo_model(name: str) -> None:
    assert len(TINY) >= 5
    torch.manual_seed(0)
    model = create_model(name, in_channels=1, num_classes=3, img_size=16 if name != "qsd_tiny" else 32,
                         T=3).eval()
    size = 16 if name != "qsd_tiny" else 32
    xs = torch.rand(1, 4, 1, size, size).expand(3, -1, -1, -1, -1).contiguous()  # [T, B, C, H, W]
    labels = torch.tensor([0, 1, 2, 0])
    with torch.no_grad():
        outputs = model(xs)  # [T, B, K]
    assert outputs.shape == (3, 4, 3)
    th = float(torch.softmax(outputs.double().cumsum(0)[0], -1).amax(-1).median())  # some exit at t = 1
    rows = evaluate_dynamic_confidence(model, xs, labels, [th, 1.0], temperature=1.0)
    for row in rows:
        r = dynamic_confidence(outputs, row.threshold, temperature=1.0)
        assert row.mean_steps == pytest.approx(float(r.steps.double().mean()))
        assert row.accuracy == pytest.approx(float((r.prediction == labels).double().mean()))
        total = 0.0
        for b in range(4):
            with profile(model, batch_size=1) as prof, torch.no_grad():
                model(xs[: int(r.steps[b]), b : b + 1])
            s = prof.synops()
            total += s["Effective_MACs"] + s["Effective_ACs"]
        assert row.synops == pytest.approx(total / 4, rel=1e-9)
    assert rows[0].mean_steps < 3 and rows[0].synops_saved is not None and rows[0].synops_saved > 0
    assert rows[1].mean_steps == 3 and rows[1].synops_saved == pytest.approx(0.0)
