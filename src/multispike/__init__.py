"""multispike: exact event-driven training of single-spike (TTFS) and multi-spike SNNs."""
import os

# OpenMP threads that spin while idle make torch and the numba kernels fight over the cores,
# which slows training badly on a machine with few or shared cores. Passive waiting must be chosen before torch loads
# its OpenMP runtime; a value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from . import functional
from .functional import LIFParameters, lif
from .layers import LIF, ConvLIF, SpikePool2d
from .network import SpikingNetwork

__version__ = "0.1.0"
__all__ = ["LIF", "ConvLIF", "SpikePool2d", "LIFParameters", "SpikingNetwork", "functional", "lif", "__version__"]
