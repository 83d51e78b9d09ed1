"""Interoperability with other tools and formats (NIR)."""

from .nir import NIRFormatError as NIRFormatError
from .nir import NIRWarning as NIRWarning
from .nir import from_nir as from_nir
from .nir import to_nir as to_nir

__all__ = ["NIRFormatError", "NIRWarning", "from_nir", "to_nir"]
