"""``meta_spikeformer_tiny`` on 16x16 digits (``tools/transformer_digits.py``'s size): few tokens.

The tiny config keeps a 2x2 token map (``strides=(1, 2, 2, 2)``, ``test_meta_tiny_token_map.py``);
with the released four stride-2 stages it would be a single token. With ``N = 1`` token,
SDSA-3's ``Q (Kᵀ V) s`` is ``s (q·k) v``; at the released ``s = 0.125`` (sized for 196 tokens)
it needs 8 of a head's 16 lanes to coincide before the ``v_th = 0.5`` attention neuron can
fire, so it never does. The output RepConvBN then sees an all-zero input,
and its three train-mode BatchNorms on a zero-variance batch each scale the backward pass by
``1 / sqrt(eps) ≈ 316`` (``≈ 3e7`` together): parameter gradients of ~1e8 that are noise, and the
model stays at chance. The tiny config therefore uses ``s = 4``; the test runs the registered
config (2x2 tokens).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from spikeforge.data import load_dataset
from spikeforge.models import create_model


def test_meta_tiny_attention_fires_and_gradients_stay_bounded_on_16px_digits() -> None:
    torch.manual_seed(0)
    x, y = load_dataset("digits", "train").tensors()  # [N, 64] in [0, 1]
    x = F.interpolate(x[:64].view(-1, 1, 8, 8), size=(16, 16), mode="bilinear", align_corners=False)  # [64, 1, 16, 16]
    net = create_model("meta_spikeformer_tiny", in_channels=1, num_classes=10, img_size=16).train()
    rates: list[float] = []
    for block in (net.features[8], net.features[10]):
        block.attn.attn_lif.register_forward_hook(lambda m, i, o: rates.append(float(o.detach().float().mean())))
    F.cross_entropy(net(x).mean(0), y[:64]).backward()
    gnorm = torch.sqrt(sum(p.grad.pow(2).sum() for p in net.parameters() if p.grad is not None))
    assert min(rates) > 0, f"attention neurons silent: rates {rates}"
    assert gnorm < 1e3, f"gradient norm {float(gnorm):.3g} (zero-variance BN blow-up)"
