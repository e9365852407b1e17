"""The spike log: the forward pass's record of every output spike, read by the backward pass.

Per sample the log is a row of ``n_out * K`` entries (K = spike slots per neuron). The
neurons of a sample are simulated in ``n_blocks`` blocks of ``block_size(n_out, n_blocks)``
neurons; the block that starts at neuron n0 appends to its own segment of the row, which
starts at ``segment_start(n0, K)`` and has room for all its neurons' slots. Within a segment the
spikes are appended in firing order: window by window (a window runs from one input event
to the next), and within a window neuron by neuron, each neuron's spikes in time order.
``window_start[e]`` (relative to the segment) is where window e's spikes begin, and entry
``n_events`` is the segment's length, so the backward pass can walk the log from its end
and meet each window's spikes, and each neuron's spikes, from last to first.

Each entry packs the neuron n and the slot k into one int32 as ``(n << shift) | k``, with
``shift = log_shift(K)`` the smallest number of bits that holds a slot index, so decoding is
a shift and a mask. Beside the entries the training forward keeps per spike the record
(z'_k, f2'_k) of ``kernels/forward.py`` where tau_mem = 2 tau_s (the backward pass derives
f1'_k = f2'_k / z'_k), or (z'_k, f2'_k, f1'_k) for any other ratio of the time constants
(:func:`record_width`); inference may keep spike times instead.
"""
from numba import njit

__all__ = ["log_shift", "pack", "entry_neuron", "entry_slot", "block_size",
           "segment_start", "check_log_capacity", "record_width"]


def record_width(k) -> int:
    """Values per spike in the log's record for the layer constants ``k``: 2 at 2:1,
    3 for any other ratio of the time constants."""
    return 2 if k.closed_form else 3


@njit(cache=True, inline="always")
def log_shift(max_spikes):
    """Bits of the slot index k in an entry (n << shift) | k: the smallest shift with
    2**shift >= max_spikes."""
    shift = 0
    while (1 << shift) < max_spikes:
        shift += 1
    return shift


@njit(cache=True, inline="always")
def pack(n, k, shift):
    """The entry of slot k of neuron n."""
    return (n << shift) | k


@njit(cache=True, inline="always")
def entry_neuron(entry, shift):
    """The neuron of an entry."""
    return entry >> shift


@njit(cache=True, inline="always")
def entry_slot(entry, shift):
    """The slot of an entry."""
    return entry & ((1 << shift) - 1)


@njit(cache=True, inline="always")
def block_size(n_out, n_blocks):
    """Neurons per block when a sample's n_out neurons are split into n_blocks blocks."""
    return (n_out + n_blocks - 1) // n_blocks


@njit(cache=True, inline="always")
def segment_start(n0, max_spikes):
    """Position, in the sample's log row, of the segment of the block starting at neuron n0."""
    return n0 * max_spikes


def check_log_capacity(n_out: int, max_spikes: int, what: str = "out_features") -> None:
    """Raise ValueError when the entries of n_out neurons with max_spikes slots overflow int32."""
    if n_out << (max_spikes - 1).bit_length() >= 2**31:
        raise ValueError(f"{what} = {n_out} with max_spikes = {max_spikes} is too "
                         f"large: {what} * 2**ceil(log2(max_spikes)) must stay below 2**31")
