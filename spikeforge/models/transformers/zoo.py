"""Registered spiking-transformer configurations (``spikeforge list models``).

Each entry is a builder ``f(**overrides) -> nn.Module`` registered in
:data:`spikeforge.models.MODELS` with ``kind="zoo"`` and metadata:

* ``family``; ``source`` (paper and released code);
* ``params``: the parameter count the implementation reference gives for the released code
  (trainable parameters incl. BN affine, BN running statistics excluded; **[count]** = recomputed
  from the released model definitions), or ``None`` for the tiny members;
* ``unused``: parameters of modules the released code builds but never calls and which we do
  not build (SDT's ``talking_heads`` conv, ``h²`` per block), so ``count(model) + unused == params``;
* ``reported``: the number printed in the paper; ``counted``: what exactly is counted.

Overrides (``num_classes=``, ``img_size=``, ``T=``, ``neuron=``, ``surrogate=``, any block option)
resize the model; the published count holds for the defaults.
"""

from __future__ import annotations

import inspect
from typing import Any

from torch import nn

from .._factory import MODELS
from ._neuron import resolve_neuron
from .maxformer import MaxFormer
from .meta_spikeformer import MetaSpikeFormer
from .qsd import QSDTransformer
from .spikformer import SpikeDrivenTransformer, Spikformer
from .spikformer_v2 import SpikformerV2

__all__ = ["ATTENTION_KINDS", "ZOO_FAMILIES", "attention_overrides"]

SPIKFORMER = "Zhou et al. ICLR 2023, arXiv:2209.15425; github.com/ZK-Zhou/spikformer"
SDT = "Yao et al. NeurIPS 2023, arXiv:2307.01694; github.com/BICLab/Spike-Driven-Transformer"
MAXF = "Fang et al. NeurIPS 2025, arXiv:2505.18608; github.com/bic-L/MaxFormer"
QSD = "Qiu et al. ICLR 2025, arXiv:2501.13492; github.com/bollossom/QSD-Transformer"
SFV2 = "Zhou et al. arXiv:2401.02020 (code not released); generic reading: Spikformer + deeper conv stem"
META = "Yao et al. ICLR 2024, arXiv:2404.03663; github.com/BICLab/Spike-Driven-Transformer-V2"
ZOO_FAMILIES = ("spikformer", "spikformer_v2", "sdt", "meta_spikeformer", "maxformer", "qsd")

_NO_LN = "all parameters incl. BN affine, without the LayerNorms the released Block builds but never calls"


ATTENTION_KINDS = ("ssa", "sdsa", "softmax", "random_qk")
"""Values of the ``attention`` config key (a sweep axis): a kind of
:class:`~spikeforge.models.transformers.SpikingSelfAttention`, or ``"random_qk"`` = the model's own
attention with Q and K frozen at their random initialisation (STEP's ablation)."""


def attention_overrides(name: str, attention: str) -> dict[str, Any]:
    """Constructor overrides that give zoo model ``name`` the attention ``attention``; raises
    ``ValueError`` naming the problem for an unknown kind or a model without an attention option."""
    if attention not in ATTENTION_KINDS:
        raise ValueError(f"attention must be one of {ATTENTION_KINDS}, got {attention!r}")
    meta = MODELS.meta(name) if name in MODELS else {}
    if meta.get("kind") != "zoo":
        raise ValueError(f"attention={attention!r} applies to zoo transformers only; model {name!r} is not one "
                         "(leave attention unset)")
    if not meta.get("attention"):
        families = sorted({MODELS.meta(n)["family"] for n in MODELS.names() if MODELS.meta(n).get("attention")})
        raise ValueError(f"zoo model {name!r} (family {meta.get('family')}) has no attention option; "
                         f"families that have one: {', '.join(families)}")
    return {"random_qk": True} if attention == "random_qk" else {"attention": attention}


def _default(cls: type[nn.Module], arg: str) -> Any:
    """Default of constructor argument ``arg`` of ``cls`` or the first base that names it (QSD takes **kwargs)."""
    for c in cls.__mro__:
        init = vars(c).get("__init__")
        p = inspect.signature(init).parameters.get(arg) if init is not None else None
        if p is not None and p.default is not inspect.Parameter.empty:
            return p.default
    raise ValueError(f"{cls.__name__} has no default for {arg!r}; pass {arg}=")


def _register(name: str, cls: type[nn.Module], defaults: dict[str, Any], *, family: str, source: str,
              params: int | None, reported: str = "-", counted: str = "", unused: int = 0) -> None:
    def build(**overrides: Any) -> nn.Module:
        kwargs = {**defaults, **overrides}
        if "neuron" in kwargs:  # a sequence neuron's name (PSN, HD-LIF) becomes a factory built for the model's T
            kwargs["neuron"] = resolve_neuron(kwargs["neuron"], lambda: int(kwargs.get("T", _default(cls, "T"))),
                                              kwargs.get("surrogate", _default(cls, "surrogate")))
        return cls(**kwargs)

    build.__name__ = name
    build.__qualname__ = name
    build.__doc__ = (f"{cls.__name__} {name}: {defaults}. Keyword overrides replace any of these "
                     f"(or any other constructor argument of {cls.__name__}).")
    has_attention = any({"attention", "random_qk"} <= set(inspect.signature(c.__init__).parameters)
                        for c in cls.__mro__ if issubclass(c, nn.Module) and c is not nn.Module)
    MODELS.register(name, kind="zoo", family=family, source=source, params=params, reported=reported,
                    counted=counted, unused=unused, defaults=dict(defaults), attention=has_attention)(build)


# --- Spikformer ------------------------------------------------------------------------------
_SF_IN = {"pooling": "1111", "num_heads": 8, "qkv_bias": False, "num_classes": 1000, "img_size": 224, "T": 4}
for _n, _d, _p, _r in [("spikformer_cifar10_4_384", {}, 9_324_730, "9.32M"),
                       ("spikformer_cifar100_4_384", {"num_classes": 100}, 9_359_380, "9.32M")]:
    _register(_n, Spikformer, {"embed_dim": 384, "depth": 4, "num_heads": 12, **_d}, family="spikformer",
              source=SPIKFORMER, params=_p, reported=_r, counted=_NO_LN)
for _dim, _p, _r in [(384, 16_816_024, "16.81M"), (512, 29_689_384, "29.68M"), (768, 66_338_632, "66.34M")]:
    _register(f"spikformer_imagenet_8_{_dim}", Spikformer, {**_SF_IN, "embed_dim": _dim, "depth": 8},
              family="spikformer", source=SPIKFORMER, params=_p, reported=_r, counted=_NO_LN + "; 1000 classes")
_register("spikformer_dvs_2_256", Spikformer,
          {"embed_dim": 256, "depth": 2, "num_heads": 16, "pooling": "1111", "qkv_bias": False, "scale": 0.25,
           "in_channels": 2, "num_classes": 10, "img_size": 128, "T": 16},
          family="spikformer", source=SPIKFORMER, params=2_566_666, reported="2.57M",
          counted=_NO_LN + " and without the unused pos_embed (16,384); 10 classes, 128x128 events")
_register("spikformer_tiny", Spikformer,
          {"embed_dim": 64, "depth": 1, "num_heads": 4, "img_size": 16, "T": 4},
          family="spikformer", source=SPIKFORMER, params=None, counted="tiny CPU member (not published)")

# --- Spikformer V2: our generic reading (the paper's SCS layer list is not known) ---------------
# params=None: no published count to reproduce. The 8-512 model is quoted at 51.55M only by a
# secondary leaderboard ([2nd], unverified); our stem is not the paper's, so no equality is claimed.
_GEN = "generic reading (deep_stem: each SPS stage twice), not the paper's SCS; count printed, not published"
_register("spikformer_v2_imagenet_8_512", SpikformerV2, {**_SF_IN, "embed_dim": 512, "depth": 8},
          family="spikformer_v2", source=SFV2, params=None, reported="51.55M [2nd, unverified; not comparable]",
          counted=_GEN + "; 1000 classes")
_register("spikformer_v2_tiny", SpikformerV2, {"embed_dim": 64, "depth": 1, "num_heads": 4, "img_size": 16, "T": 4},
          family="spikformer_v2", source=SFV2, params=None, counted="tiny CPU member (not published)")

# --- Spike-driven Transformer v1 ---------------------------------------------------------------
_TH = "incl. the released code's unused talking_heads Conv1d (h² per block), which is not built here"
for _n, _c, _p in [("sdt_cifar10_2_512", 10, 10_233_546), ("sdt_cifar100_2_512", 100, 10_279_716)]:
    _register(_n, SpikeDrivenTransformer, {"embed_dim": 512, "depth": 2, "num_heads": 8, "num_classes": _c},
              family="sdt", source=SDT, params=_p, reported="10.28M", counted=_TH, unused=2 * 8 * 8)
for _L, _dim, _p, _r in [(8, 384, 16_816_536, "16.81M"), (6, 512, 23_373_736, "23.37M"),
                         (8, 512, 29_689_896, "29.68M"), (10, 512, 36_006_056, "36.01M"),
                         (8, 768, 66_339_144, "66.34M")]:
    _register(f"sdt_imagenet_{_L}_{_dim}", SpikeDrivenTransformer, {**_SF_IN, "embed_dim": _dim, "depth": _L},
              family="sdt", source=SDT, params=_p, reported=_r, counted=_TH + "; 1000 classes", unused=_L * 64)
_register("sdt_dvs128_2_256", SpikeDrivenTransformer,
          {"embed_dim": 256, "depth": 2, "num_heads": 8, "pooling": "0111", "in_channels": 2, "num_classes": 11,
           "img_size": 128, "T": 16},
          family="sdt", source=SDT, params=2_567_051, reported="2.57M", counted=_TH + "; 11 classes, 128x128",
          unused=2 * 64)
_register("sdt_tiny", SpikeDrivenTransformer, {"embed_dim": 64, "depth": 1, "num_heads": 4, "img_size": 16, "T": 4},
          family="sdt", source=SDT, params=None, counted="tiny CPU member (not published)")

# --- Meta-SpikeFormer (Spike-driven Transformer V2) -----------------------------------------------
_MC = "all parameters incl. BN affine, without the knowledge-distillation head (kd=False); 1000 classes"
for _n, _dims, _p, _r in [("meta_spikeformer_15m", (64, 128, 256, 360), 15_112_208, "15.1M"),
                          ("meta_spikeformer_31m", (96, 192, 384, 480), 31_333_864, "31.3M"),
                          ("meta_spikeformer_55m", (128, 256, 512, 640), 55_350_248, "55.4M"),
                          ("meta_spikeformer_8_768", (192, 384, 768, 960), 123_741_160, "-")]:
    _register(_n, MetaSpikeFormer, {"embed_dims": _dims}, family="meta_spikeformer", source=META, params=_p,
              reported=_r, counted=_MC)
_register("meta_spikeformer_tiny", MetaSpikeFormer,
          {"embed_dims": (16, 32, 64, 64), "depths": (1, 1), "num_heads": 4, "num_classes": 10, "img_size": 16,
           "T": 2, "scale": 4.0,  # s = 0.125 is sized for 196 tokens; at 1-4 tokens SDSA-3 never fires
           "strides": (1, 2, 2, 2)},  # stride-1 stem: 2x2 tokens at 16 px (four stride-2 stages leave 1x1)
          family="meta_spikeformer", source=META, params=None, counted="tiny CPU member (not published)")

# --- Max-Former ------------------------------------------------------------------------------------
_MF = "all parameters incl. BN affine; code structure (stage blocks as released)"
for _n, _c, _p, _r in [("maxformer_cifar10_4_384", 10, 6_568_282, "6.57M"),
                       ("maxformer_cifar100_4_384", 100, 6_602_932, "6.60M")]:
    _register(_n, MaxFormer, {"embed_dim": 384, "num_classes": _c}, family="maxformer", source=MAXF, params=_p,
              reported=_r, counted=_MF + " 1/1/2: identity / DWC3 / 2 SSA; 8 heads")
for _dim, _p, _r in [(384, 16_237_240, "16.23M"), (512, 28_653_480, "28.65M"), (768, 63_992_200, "63.99M")]:
    _register(f"maxformer_imagenet_10_{_dim}", MaxFormer,
              {"embed_dim": _dim, "embeds": ("orig_imagenet", "max", "max"),
               "mixers": (("dwc7",), ("dwc5",) * 2, ("ssa",) * 7), "num_heads": _dim // 64, "num_classes": 1000,
               "img_size": 224, "T": 4}, family="maxformer", source=MAXF, params=_p, reported=_r,
              counted=_MF + " 1/2/7 (the paper's table says 1/3/7); 1000 classes")
for _n, _c, _p in [("maxformer_dvs128_2_256", 11, 1_455_883), ("maxformer_cifar10dvs_2_256", 10, 1_455_626)]:
    _register(_n, MaxFormer,
              {"embeds": ("max_plus", "max"), "mixers": (("dwc3",), ("ssa",)), "widths": (128, 256), "num_heads": 16,
               "mlp_ratio": 1.0, "in_channels": 2, "num_classes": _c, "img_size": 128, "T": 16},
              family="maxformer", source=MAXF, params=_p, reported="1.45M",
              counted=_MF + " 1/1: DWC3 / SSA, mlp_ratio 1 (enables the MLP's inner residual); 128x128 events")
_register("maxformer_tiny", MaxFormer, {"embed_dim": 64, "num_heads": 4, "img_size": 16, "T": 4},
          family="maxformer", source=MAXF, params=None, counted="tiny CPU member (not published)")

# --- QSD-Transformer ---------------------------------------------------------------------------------
_QC = ("all parameters incl. the per-output-channel LSQ steps and layer scales, and the released code's "
       "unused ActLSQ alpha/zero_point (not built here); 1000 classes")
for _n, _dims, _p, _u in [("qsd_15m", (64, 128, 256, 360), 15_245_862, 85_430),
                          ("qsd_31m", (96, 192, 384, 480), 31_527_302, 123_942),
                          ("qsd_55m", (128, 256, 512, 640), 55_607_830, 165_254)]:
    _register(_n, QSDTransformer, {"embed_dims": _dims}, family="qsd", source=QSD, params=_p,
              reported="6.8M (bits-adjusted, 55M x 4/32)" if _n == "qsd_55m" else "-", counted=_QC, unused=_u)
_register("qsd_tiny", QSDTransformer,
          {"embed_dims": (16, 32, 64, 64), "depths": (1, 1), "num_heads": 4, "num_classes": 10, "img_size": 32,
           "T": 1}, family="qsd", source=QSD, params=None, counted="tiny CPU member (not published)")
