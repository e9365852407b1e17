"""Exchange with other simulators through NIR, the Neuromorphic Intermediate Representation.

:mod:`~multispike.nir.graph` turns a network into a NIR graph and back and reads and writes
graph files (the format and its equations are in its docstring), :mod:`~multispike.nir.nodes`
holds the nodes of one layer each way, and :mod:`~multispike.nir.cli` the ``multispike export``
and ``multispike import`` commands.
"""
from .graph import from_nir, read_graph, to_nir, write_graph

__all__ = ["to_nir", "from_nir", "read_graph", "write_graph"]
