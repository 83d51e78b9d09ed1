"""Name the child module that failed inside a container (``SpikingSequential``, ``ModuleGraph``).

A shape mismatch in a user's ``nn.Linear`` deep in a stack surfaces as torch's bare
``mat1 and mat2 shapes cannot be multiplied``; :func:`in_child` adds a note saying which layer of
which container raised and on what input shape. The exception's type and message are unchanged,
so ``except`` clauses and tests that match them keep working (notes need Python ≥ 3.11; on 3.10
the exception passes through as is).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from torch import Tensor

__all__ = ["in_child"]


@contextlib.contextmanager
def in_child(container: str, child: str, module: object, xs: object) -> Iterator[None]:
    """Run the block; if it raises, note ``"<container>: raised by <child> (<class>) on input [shape]"``."""
    try:
        yield
    except Exception as err:
        if hasattr(err, "add_note"):
            shape = f"of shape {tuple(xs.shape)}" if isinstance(xs, Tensor) else f"of type {type(xs).__name__}"
            err.add_note(f"{container}: raised by {child} ({type(module).__name__}) on an input {shape}")
        raise
