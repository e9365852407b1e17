"""multispike: exact event-driven training of single-spike (TTFS) and multi-spike SNNs."""
from . import functional
from .functional import LIFParameters, lif
from .layers import LIF

__version__ = "0.1.0"
__all__ = ["LIF", "LIFParameters", "functional", "lif", "__version__"]
