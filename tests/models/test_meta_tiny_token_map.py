"""Shape contract of ``meta_spikeformer_tiny`` at the size it is trained at (16x16 digits).

The released layout has four stride-2 down-samplings before the transformer stage, so a 16x16
image reaches it as a single token; SDSA-3 over one token is ``s (q·k) v`` and the model does not
learn (``docs/transformers.md``). The tiny config therefore uses ``strides=(1, 2, 2, 2)``: the
stage sizes below are derived by hand from ``out = floor((S + 2 p - k) / s) + 1`` with the
stem's ``k = 7, p = 3`` and the other layers' ``k = 3, p = 1``:
16 -(s1)-> 16 -(s2)-> 8 -(s2)-> 4 -(s2)-> 2 -(s1)-> 2, i.e. a 2x2 map of 4 tokens.
"""

from __future__ import annotations

import pytest
import torch

from spikeforge.models import create_model
from spikeforge.models.transformers import MetaSpikeFormer, MSDownsample


def test_meta_tiny_keeps_a_2x2_token_map_at_16px() -> None:
    net = create_model("meta_spikeformer_tiny", in_channels=1, num_classes=10, img_size=16)
    sizes: list[tuple[int, ...]] = []
    for m in net.modules():
        if isinstance(m, MSDownsample):
            m.register_forward_hook(lambda mod, a, out: sizes.append(tuple(out.shape[2:])))
    with torch.no_grad():
        feats = net.forward_features(torch.rand(3, 1, 16, 16))  # [T, B, c3, H', W']
    assert sizes == [(8, 16, 16), (16, 8, 8), (32, 4, 4), (64, 2, 2), (64, 2, 2)]
    assert tuple(feats.shape[-2:]) == (2, 2) and net.num_tokens == 4  # never a 1x1 map


def test_strides_leave_the_parameter_count_alone_and_bad_sizes_are_refused() -> None:
    dims = {"embed_dims": (8, 16, 32, 32), "depths": (1, 1), "num_heads": 2, "num_classes": 3}
    with torch.device("meta"):
        a = MetaSpikeFormer(**dims, img_size=32)
        b = MetaSpikeFormer(**dims, img_size=32, strides=(1, 2, 2, 2))
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    assert (a.num_tokens, b.num_tokens) == (4, 16)
    with pytest.raises(ValueError, match="divisible by prod"):
        MetaSpikeFormer(**dims, img_size=20)
    with pytest.raises(ValueError, match="four positive integers"):
        MetaSpikeFormer(**dims, img_size=32, strides=(2, 2, 2))
