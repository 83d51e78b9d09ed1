"""The classifier shell shared by every spiking-transformer family."""

from __future__ import annotations

from torch import Tensor, nn

from ._neuron import NeuronSpec, make_neuron, repeat_static

__all__ = ["SpikingTransformerClassifier"]


class SpikingTransformerClassifier(nn.Module):
    """``features`` (stem + stages, ``[T, B, C_in, H, W] -> [T, B, D, H', W']``) -> mean over
    tokens -> [neuron] -> Linear, per time step.

    Returns per-step logits ``[T, B, num_classes]``; their mean over ``T`` is the papers' output
    (the head is linear, so ``Linear(mean_T x) == mean_T Linear(x)``). A static batch
    ``[B, C, H, W]`` is repeated ``T`` times (direct encoding); a sequence ``[T, B, C, H, W]``
    (events) is used as given.
    """

    def __init__(self, features: nn.Module, dim: int, num_classes: int, *, T: int, in_channels: int,
                 head_neuron: bool, neuron: NeuronSpec = "lif", surrogate: str = "sigmoid") -> None:
        super().__init__()
        if T < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(f"T, num_classes and in_channels must be >= 1, got {T}, {num_classes}, {in_channels}")
        self.T, self.in_channels, self.num_classes = int(T), int(in_channels), int(num_classes)
        self.features = features
        self.head_lif = make_neuron(neuron, surrogate, features=dim) if head_neuron else None  # on [T, B, D]
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        xs = repeat_static(x, self.T, self.in_channels, type(self).__name__)  # [T, B, C_in, H, W]
        feats = self.features(xs)  # [T, B, D, H', W']
        pooled = feats.flatten(3).mean(-1)  # [T, B, D, N] -> [T, B, D]
        if self.head_lif is not None:
            pooled = self.head_lif(pooled)
        return self.head(pooled)  # [T, B, num_classes]

    def forward_features(self, x: Tensor) -> Tensor:
        """Token map ``[T, B, D, H', W']`` before the head."""
        return self.features(repeat_static(x, self.T, self.in_channels, type(self).__name__))
