"""Online training modes inside ``fit`` / ``spikeforge train``: exact resume, gradients vs a
hand-written float64 SLTT, config validation."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from spikeforge.config import ConfigError, TrainConfig
from spikeforge.experiment import make_loaders, training_mode
from spikeforge.learning import LOSSES, OTTT, SLTT, TRAINING_MODES, fit, seed_everything
from spikeforge.models import build_model
from spikeforge.neurons import LIF

D = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # many tiny per-step ops (tests/conftest.py)


class _Killed(RuntimeError):
    pass


def _train(cfg: TrainConfig, ckpt, *, kill_at: int | None = None, resume: bool = False):
    seed_everything(cfg.seed)
    train, _, sampler = make_loaders(cfg)
    model = build_model(cfg)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

    def set_epoch(e: int) -> None:
        if kill_at is not None and e == kill_at:
            raise _Killed
        sampler.generator.manual_seed(1000 + e)

    result = fit(model, train, loss_fn=LOSSES.get(cfg.loss), optimizer=opt, epochs=cfg.epochs, checkpoint=ckpt,
                 resume=resume, config=cfg.to_dict(), progress=False, set_epoch=set_epoch, mode=training_mode(cfg))
    return model, result


@pytest.mark.parametrize("mode", ["sltt", "sltt-k", "ottt"])
def test_killed_online_run_resumes_to_the_uninterrupted_weights(tmp_path, mode):
    # Poisson encoder + shuffling + SLTT-K's random steps all draw from RNGs the checkpoint restores
    cfg = TrainConfig(data="iris", encoder="poisson", steps=5, hidden=(16,), epochs=2, batch_size=32, lr=3e-2,
                      train_mode=mode, online_k=2)
    full, _ = _train(cfg, tmp_path / "full.pt")
    with pytest.raises(_Killed):
        _train(cfg, tmp_path / "run.pt", kill_at=1)
    resumed, result = _train(cfg, tmp_path / "run.pt", resume=True)
    assert result.resumed_from_epoch == 1
    for (k, a), (_, b) in zip(full.state_dict().items(), resumed.state_dict().items()):
        assert torch.equal(a, b), k
    # the mode matters: BPTT from the same seed ends elsewhere
    bptt, _ = _train(cfg.replace(train_mode="bptt"), tmp_path / "bptt.pt")
    assert not all(torch.equal(a, b) for a, b in zip(full.parameters(), bptt.parameters()))


def _hand_sltt_grads(w1, b1, w2, b2, xs, y, beta, k_steps=None):
    """Detached-membrane per-step CE written out in float64: v' = beta v + W1 x, z = H(v' - 1)
    (triangle surrogate max(0, 1 - |x|)), v = v' - z; loss = mean over steps of CE(W2 z + b2, y)."""
    params = [p.detach().clone().requires_grad_() for p in (w1, b1, w2, b2)]
    w1, b1, w2, b2 = params
    T = xs.shape[0]
    v = torch.zeros(xs.shape[1], w1.shape[0], dtype=D)
    for t in range(T):
        u = beta * v.detach() + xs[t] @ w1.T + b1
        h = (u - 1.0 > 0).to(D)
        surr = torch.clamp(1 - (u - 1.0).abs(), min=0).detach()
        z = h + surr * (u - u.detach())  # value H(u - 1), gradient the triangle surrogate
        v = u - z
        if k_steps is None or t in k_steps:
            (nn.functional.cross_entropy(z @ w2.T + b2, y) / T).backward()
    return [p.grad for p in params]


def test_fit_sltt_step_is_plain_sgd_on_the_hand_written_sltt_gradient():
    torch.manual_seed(0)
    beta, lr = 0.6, 0.1
    net = nn.Sequential(nn.Linear(5, 7, dtype=D), LIF.from_decay(beta, surrogate="triangle", dtype=D),
                        nn.Linear(7, 3, dtype=D))
    x0 = [p.detach().clone() for p in net.parameters()]
    xs = torch.rand(9, 6, 5, dtype=D) * 2.0  # [T, B, 5]
    y = torch.tensor([0, 1, 2, 0, 1, 2])

    def loss_fn(out, target):  # out [T, B, C]
        return nn.functional.cross_entropy(out.mean(0), target)

    fit(net, [(xs, y)], loss_fn=loss_fn, optimizer=torch.optim.SGD(net.parameters(), lr=lr), epochs=1,
        progress=False, mode="sltt")
    want = _hand_sltt_grads(*x0, xs, y, beta)
    assert max(g.abs().max().item() for g in want) > 1e-3
    for p, p0, g in zip(net.parameters(), x0, want):
        torch.testing.assert_close(p.detach(), p0 - lr * g, rtol=1e-10, atol=1e-12)


def test_fit_sltt_k_uses_the_global_rng_draw():
    torch.manual_seed(0)
    beta, lr = 0.6, 0.1
    net = nn.Sequential(nn.Linear(5, 7, dtype=D), LIF.from_decay(beta, surrogate="triangle", dtype=D),
                        nn.Linear(7, 3, dtype=D))
    x0 = [p.detach().clone() for p in net.parameters()]
    xs = torch.rand(9, 6, 5, dtype=D) * 2.0
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    torch.manual_seed(7)
    chosen = set(torch.randperm(9)[:3].tolist())
    torch.manual_seed(7)
    fit(net, [(xs, y)], loss_fn=lambda o, t: nn.functional.cross_entropy(o.mean(0), t),
        optimizer=torch.optim.SGD(net.parameters(), lr=lr), epochs=1, progress=False, mode=SLTT(k=3))
    want = _hand_sltt_grads(*x0, xs, y, beta, k_steps=chosen)
    for p, p0, g in zip(net.parameters(), x0, want):
        torch.testing.assert_close(p.detach(), p0 - lr * g, rtol=1e-10, atol=1e-12)


def test_cli_trains_with_each_online_mode(tmp_path, capsys):
    from spikeforge.cli.__main__ import main

    for mode in ("sltt-k", "ottt"):
        sets = {"data": "digits", "hidden": "32", "steps": "4", "epochs": "2", "lr": "0.01", "train_mode": mode,
                "progress": "false"}
        main(["train", "--out", str(tmp_path / mode), "--no-plots", *[a for k, v in sets.items()
                                                                     for a in ("--set", f"{k}={v}")]])
        report = json.loads((tmp_path / mode / "report.json").read_text())
        assert report["config"]["train_mode"] == mode
        assert report["test_accuracy"] > 0.4, mode  # chance is 0.1 (measured ~0.63 for both)


def test_training_mode_from_config():
    assert training_mode(TrainConfig(train_mode="sltt-k", online_k=3)) == SLTT(k=3)
    assert training_mode(TrainConfig(train_mode="ottt", tau_mem=5e-3, dt=1e-3)).decay == pytest.approx(0.8)
    assert training_mode(TrainConfig(train_mode="ottt", neuron="if")) == OTTT(decay=1.0)
    assert training_mode(TrainConfig(train_mode="ottt", ottt_decay=0.3)) == OTTT(decay=0.3)
    assert set(TRAINING_MODES.names()) >= {"bptt", "sltt", "sltt-k", "ottt"}


@pytest.mark.parametrize("values, key", [
    ({"train_mode": "rtrl"}, "train_mode"),
    ({"train_mode": "sltt", "rate_reg": 0.1}, "rate_reg"),
    ({"train_mode": "ottt", "dropout": 0.2}, "dropout"),
    ({"train_mode": "sltt-k", "online_k": 0}, "online_k"),
    ({"train_mode": "ottt", "ottt_decay": 1.5}, "ottt_decay"),
])
def test_bad_mode_config_names_the_key(values, key):
    with pytest.raises(ConfigError, match=repr(key)):
        TrainConfig.from_dict(values)


def test_online_mode_refuses_regularizer_and_models_without_layers():
    net = nn.Sequential(nn.Linear(3, 4), LIF(), nn.Linear(4, 2))
    data = [(torch.rand(4, 2, 3), torch.tensor([0, 1]))]
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="regularizer"):
        fit(net, data, loss_fn=lambda o, t: o.sum(), optimizer=opt, epochs=1, progress=False, mode="sltt",
            regularizer=lambda m, o: o.sum())

    class Opaque(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x):
            return self.net(x)

    with pytest.raises(TypeError, match="online_layers"):
        fit(Opaque(), data, loss_fn=lambda o, t: o.sum(), optimizer=opt, epochs=1, progress=False, mode="ottt")
