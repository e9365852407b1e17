"""Training and inference throughput of the convolutional MNIST preset (mnist-conv) on real MNIST.

Usage:
    python benchmarks/bench_conv.py --data-dir ../shared/datasets/mnist [--batches 30]
        [--infer-batches 5] [--rounds 5] [--threads N] [--preset mnist-conv]
        [--checkpoint run/best.pt]

Times training batches of the preset (batch 20: forward, backward, Adam step) layer by
layer after a warm-up (numba compilation or cache load, reported separately), then
inference in batches of 100, in several rounds that each start from the same network and a
fresh optimizer. Prints the median round's samples/s with the range over rounds (and judges
the targets on the median: on a shared machine the speed of the same code changes from
minute to minute), the forward and backward time of each layer
(pooling counted with the convolution before it) and its share of the training step, the
same for inference (layer by layer, timed separately from the inference rate), the spikes
per sample of each layer before and after the timed training batches and the throughput of
their first and second half (training thins the spikes), the peak resident memory, and each
target (``TARGETS``) with MET / MISSED. With ``--checkpoint`` the network starts from a
trained checkpoint (its own configuration, a fresh optimizer) instead of the preset's
initialisation: the speed of a trained network, whose spike counts differ.

Every rate is given per wall-clock second and per CPU second of the process. On a machine
shared with other jobs the wall-clock rate depends on their load; with ``--threads 1`` the
rate per CPU second is what one idle core would do (time slices lost to other jobs are not
counted), which makes runs under different loads comparable.
"""
from __future__ import annotations

import argparse
import copy
import resource
import statistics
import time

import multispike  # noqa: F401  (sets the OpenMP wait policy before torch starts its threads)
import numba
import torch

from multispike.functional import spike_pool2d
from multispike.presets import get_preset
from multispike.train import build_network, build_optimizer, compute_loss, load_data, load_trained

# Targets of the convolutional-network issue on the 2-core development machine.
TARGETS = {
    "train_rate": 400.0,    # mnist-conv training samples/s (1000 is the goal beyond it)
    "infer_rate": 1500.0,   # mnist-conv inference samples/s
    "memory_mb": 4096.0,    # peak resident memory of the process
}


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class Clock:
    """Wall-clock and CPU seconds since creation."""

    def __init__(self):
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def elapsed(self):
        return time.perf_counter() - self.wall, time.process_time() - self.cpu


def train_step(net, optimizer, config, x, y, fwd, bwd):
    """One step, layer by layer, adding each layer's forward and backward seconds."""
    inputs, fed = [], []
    times = x.reshape(len(x), *net.input_shape, x.shape[-1])
    for k, (layer, pool) in enumerate(zip(net.layers, net.pools)):
        t0 = time.perf_counter()
        inp = times.detach().requires_grad_(k > 0)
        flat = isinstance(layer, multispike.LIF)
        times = layer(inp.reshape(len(x), -1, inp.shape[-1]) if flat else inp)
        if pool:
            times = spike_pool2d(times, pool)
        fwd[k] += time.perf_counter() - t0
        inputs.append(inp)
        fed.append(times)
    loss = compute_loss(config, fed[-1], y)
    optimizer.zero_grad(set_to_none=True)
    grad = None
    for k in range(len(net.layers) - 1, -1, -1):
        t0 = time.perf_counter()
        if grad is None:
            loss.backward()
        else:
            fed[k].backward(grad)
        grad = inputs[k].grad
        bwd[k] += time.perf_counter() - t0
    optimizer.step()
    return [float(torch.isfinite(o).sum()) / len(x) for o in fed]


@torch.no_grad()
def infer_by_layer(net, x, seconds):
    """Inference of ``x`` layer by layer (as the network runs it), adding each layer's
    seconds (pooling with the layer before it)."""
    times = x.reshape(len(x), *net.input_shape, x.shape[-1])
    for k, (layer, pool) in enumerate(zip(net.layers, net.pools)):
        t0 = time.perf_counter()
        flat = isinstance(layer, multispike.LIF)
        times = layer(times.reshape(len(x), -1, times.shape[-1]) if flat else times)
        if pool:
            times = spike_pool2d(times, pool)
        seconds[k] += time.perf_counter() - t0


@torch.no_grad()
def spikes_per_sample(net, x):
    return [float(torch.isfinite(o).sum()) / len(x) for o in net(x, all_layers=True)]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--preset", default="mnist-conv")
    parser.add_argument("--batches", type=int, default=30, help="timed training batches")
    parser.add_argument("--infer-batches", type=int, default=5, help="timed inference batches of 100")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds, each from the same start; the median is reported")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--checkpoint", default=None,
                        help="start from this trained checkpoint (replaces --preset)")
    args = parser.parse_args(argv)
    for name, least in (("batches", 2), ("infer_batches", 1), ("rounds", 1)):
        if getattr(args, name) < least:
            parser.error(f"--{name.replace('_', '-')} must be at least {least}")
    if args.threads:
        numba.set_num_threads(args.threads)
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.checkpoint:
        net, config = load_trained(args.checkpoint, args.data_dir)
        data = load_data(config)
        start = f"trained checkpoint {args.checkpoint}"
    else:
        config = get_preset(args.preset, data_dir=args.data_dir)
        data = load_data(config)
        net = build_network(config, data.n_inputs, data.n_classes)
        start = "initialisation"
    optimizer = build_optimizer(config, net)  # for the warm-up step
    b = config.batch_size
    n_layers = len(net.layers)
    print(f"{config.name}: {net.architecture}, from {start}, batch {b}, "
          f"{numba.get_num_threads()} numba threads, torch {torch.__version__}")

    probe = data.x_test[:100]
    before = spikes_per_sample(net, probe)
    t0 = time.perf_counter()
    train_step(net, optimizer, config, data.x_train[:b], data.y_train[:b], [0.0] * n_layers,
               [0.0] * n_layers)
    with torch.no_grad():
        net(data.x_test[:100])
    print(f"warm-up (compilation or cache load, one training and one inference batch): "
          f"{time.perf_counter() - t0:.1f} s")

    initial = copy.deepcopy(net.state_dict())
    fwd, bwd, inf = [0.0] * n_layers, [0.0] * n_layers, [0.0] * n_layers
    train_rates, train_cpu_rates, half_rates, infer_rates, infer_cpu_rates = [], [], [], [], []
    n_train = args.batches * b
    n_infer = args.infer_batches * 100
    for _ in range(args.rounds):  # every round from the same start; the median is reported
        net.load_state_dict(initial)
        optimizer = build_optimizer(config, net)
        halves = [0.0, 0.0]
        clock = Clock()
        for i in range(args.batches):
            j = (i + 1) * b
            t0 = time.perf_counter()
            train_step(net, optimizer, config, data.x_train[j:j + b], data.y_train[j:j + b],
                       fwd, bwd)
            halves[2 * i // args.batches] += time.perf_counter() - t0
        train_wall, train_cpu = clock.elapsed()
        train_rates.append(n_train / train_wall)
        train_cpu_rates.append(n_train / train_cpu)
        half_rates.append((args.batches // 2 * b / halves[0],
                           (args.batches - args.batches // 2) * b / halves[1]))
        clock = Clock()
        for i in range(args.infer_batches):
            with torch.no_grad():
                net(data.x_test[i * 100:(i + 1) * 100])
        infer_wall, infer_cpu = clock.elapsed()
        infer_rates.append(n_infer / infer_wall)
        infer_cpu_rates.append(n_infer / infer_cpu)
        for i in range(args.infer_batches):
            infer_by_layer(net, data.x_test[i * 100:(i + 1) * 100], inf)
    after = spikes_per_sample(net, probe)
    memory = peak_memory_mb()

    train_rate = statistics.median(train_rates)
    infer_rate = statistics.median(infer_rates)
    first, second = (statistics.median(h[k] for h in half_rates) for k in (0, 1))
    print(f"training: {train_rate:.0f} samples/s (median of {args.rounds} rounds of "
          f"{args.batches} batches of {b}; range {min(train_rates):.0f}-{max(train_rates):.0f}), "
          f"{statistics.median(train_cpu_rates):.0f} per CPU second; first half {first:.0f}, "
          f"second half {second:.0f} samples/s")
    print(f"inference: {infer_rate:.0f} samples/s (median of {args.rounds} rounds of "
          f"{args.infer_batches} batches of 100; range {min(infer_rates):.0f}-"
          f"{max(infer_rates):.0f}), {statistics.median(infer_cpu_rates):.0f} per CPU second")
    n_train *= args.rounds
    n_infer *= args.rounds
    step, total_inf = sum(fwd) + sum(bwd), sum(inf)
    print("per layer, ms per sample over all rounds (share of the layers' total; pooling with "
          "the layer before it):")
    for k, layer in enumerate(net.layers):
        kind = type(layer).__name__
        print(f"  layer {k} {kind:8s} training forward {1e3 * fwd[k] / n_train:6.3f} "
              f"({100 * fwd[k] / step:4.1f} %) backward {1e3 * bwd[k] / n_train:6.3f} "
              f"({100 * bwd[k] / step:4.1f} %) | inference {1e3 * inf[k] / n_infer:6.3f} "
              f"({100 * inf[k] / total_inf:4.1f} %) | spikes/sample {before[k]:7.1f} at start "
              f"-> {after[k]:7.1f} after {args.batches} batches")
    print(f"peak resident memory: {memory:.0f} MB")
    for name, value, target, ok in (
            ("training samples/s", train_rate, f">= {TARGETS['train_rate']:.0f}", train_rate >= TARGETS["train_rate"]),
            ("inference samples/s", infer_rate, f">= {TARGETS['infer_rate']:.0f}", infer_rate >= TARGETS["infer_rate"]),
            ("peak memory MB", memory, f"< {TARGETS['memory_mb']:.0f}", memory < TARGETS["memory_mb"])):
        print(f"target {name} {target}: {value:.0f}  {'MET' if ok else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
