"""The conv layers' three big kernels in isolation, on one and on two threads, back to back.

Usage: PYTHONPATH=src python docs/runs/conv/kernel_threads.py [ROUNDS]

Runs one mnist-conv training step (batch 20, initialisation, seed 0) and keeps the inputs of
spread_events, simulate_events and backpropagate_events of both convolutions; then, ROUNDS
times (default 2), times each kernel on 1 and on 2 numba threads (the fastest of 15 calls,
wall clock, ms per sample). The ratio shows how well a kernel uses the second core at that
moment: on the shared VM it changes from round to round.
"""
import sys
import time

import numba
import torch

from multispike import convolution
from multispike.presets import get_preset
from multispike.train import build_network, compute_loss, load_data

KERNELS = ("spread_events", "simulate_events", "backpropagate_events")
rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 2
torch.set_num_threads(1)
captured = {name: [] for name in KERNELS}
originals = {name: getattr(convolution, name) for name in KERNELS}


def keeping(name):
    def call(*args, **kwargs):
        captured[name].append((args, kwargs))
        return originals[name](*args, **kwargs)
    return call


for name in KERNELS:
    setattr(convolution, name, keeping(name))
config = get_preset("mnist-conv", data_dir="/work/shared/datasets/mnist")
torch.manual_seed(0)
data = load_data(config)
net = build_network(config, data.n_inputs, data.n_classes)
compute_loss(config, net(data.x_train[:20]), data.y_train[:20]).backward()
for name in KERNELS:
    setattr(convolution, name, originals[name])


def fastest(f, args, kwargs, calls=15):
    f(*args, **kwargs)
    best = float("inf")
    for _ in range(calls):
        t0 = time.perf_counter()
        f(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best * 1e3 / 20


print("ms per sample, fastest of 15 calls; conv1 / conv2 (the backward runs conv2 first)")
for r in range(rounds):
    for name in KERNELS:
        calls = captured[name] if name != "backpropagate_events" else captured[name][::-1]
        times = {}
        for threads in (1, 2):
            numba.set_num_threads(threads)
            times[threads] = [fastest(originals[name], a, k) for a, k in calls]
        print(f"round {r + 1} {name:22s} " + "  ".join(
            f"conv{i + 1}: 1 thread {t1:.3f}, 2 threads {t2:.3f} ({t1 / t2:.2f}x)"
            for i, (t1, t2) in enumerate(zip(times[1], times[2]))), flush=True)
