"""Training and inference throughput of the MNIST presets on real MNIST.

Usage:
    python benchmarks/bench_training.py --data-dir ../shared/datasets/mnist [--batches 40]
        [--rounds 3] [--threads N] [--presets mnist-multispike,mnist-ttfs,mnist-multispike@3]
        [--snntorch-batches 10]

A preset written ``NAME@R`` runs with the membrane time constant R times the synaptic one
(``tau_mem = R tau_s``; the presets' own is 2, the closed form): ``mnist-multispike@3`` is the
general-ratio case, judged against ``mnist-multispike`` of the same run.

For each preset it times N training batches (forward, backward, Adam step; no evaluation)
and N inference batches after a warm-up whose time (numba compilation or cache load) is
reported separately, in several rounds, and prints the median round's samples/s (with the
range over rounds), per-layer forward and backward time and the peak resident memory.
When snnTorch is installed it also times the same 784-800-10 network as a clock-driven
snnTorch model (snntorch_reference.py: Synaptic neurons with matching tau_s and
tau = 2 tau_s, 1 ms steps over 200 ms, spike-count loss, Adam) in a process of its own, at
one thread and at all of them, and prints the throughput ratio to the faster. Last it prints
each target (``TARGETS``) with the measured figure and whether it is met.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the clock-driven reference runs with the user's own policy, not the one multispike picks
USER_OMP_WAIT_POLICY = os.environ.get("OMP_WAIT_POLICY")

import multispike  # noqa: E402,F401  (sets the OpenMP wait policy before torch starts its threads)
import numba
import torch

from multispike.presets import get_preset
from multispike.train import build_network, build_optimizer, compute_loss, load_data


# The targets on the 2-core development machine (784-800-10 MNIST presets).
TARGETS = {
    "train_rate": 3000.0,      # mnist-multispike training samples/s (batch 50)
    "epoch_s": 20.0,           # a 60 000-sample training epoch, seconds
    "infer_rate": 15000.0,     # mnist-multispike inference samples/s (batch >= 100)
    "memory_mb": 2048.0,       # peak resident memory of the process
    "reference_ratio": 20.0,   # training throughput over the clock-driven snnTorch model
    "general_ratio_slowdown": 2.0,  # mnist-multispike at tau_mem = 3 tau_s: training time over 2:1
}


def preset_config(spec: str, data_dir):
    """The configuration of a preset name, or of ``NAME@R``: that preset with tau_mem = R tau_s."""
    name, _, ratio = spec.partition("@")
    config = get_preset(name, data_dir=data_dir)
    return get_preset(name, data_dir=data_dir, tau_mem=float(ratio) * config.tau_s) if ratio else config


def peak_memory_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_preset(name, data_dir, n_batches, infer_batch, rounds):
    config = preset_config(name, data_dir)
    torch.manual_seed(0)
    data = load_data(config)
    net = build_network(config, data.n_inputs, data.n_classes)
    optimizer = build_optimizer(config, net)
    b = config.batch_size
    n_layers = len(net.layers)
    fwd = [0.0] * n_layers
    bwd = [0.0] * n_layers

    n_train_batches = len(data.x_train) // b

    def train_step(i, timed):
        i %= n_train_batches  # every batch full, however many are timed
        x = data.x_train[i * b:(i + 1) * b]
        y = data.y_train[i * b:(i + 1) * b]
        inputs, outputs = [], []
        times = x
        for k, layer in enumerate(net.layers):
            t0 = time.perf_counter()
            inp = times.detach().requires_grad_(k > 0)
            times = layer(inp)
            if timed:
                fwd[k] += time.perf_counter() - t0
            inputs.append(inp)
            outputs.append(times)
        loss = compute_loss(config, outputs[-1], y, net, inputs[-1])
        optimizer.zero_grad(set_to_none=True)
        grad = None
        for k in range(n_layers - 1, -1, -1):
            t0 = time.perf_counter()
            if k == n_layers - 1:
                loss.backward()
            else:
                outputs[k].backward(grad)
            if timed:
                bwd[k] += time.perf_counter() - t0
            grad = inputs[k].grad
        optimizer.step()

    # Inference batches cycle through the test set, so that every timed batch holds
    # infer_batch samples even when n_batches * infer_batch exceeds its 10 000 images
    # (built before timing: the indexing copy is not part of inference).
    n_test = len(data.x_test)
    infer_batches = [data.x_test[torch.arange(i * infer_batch, (i + 1) * infer_batch) % n_test]
                     for i in range(n_batches)]
    t0 = time.perf_counter()
    train_step(0, False)
    with torch.no_grad():
        net(infer_batches[0])
    warmup = time.perf_counter() - t0
    for i in range(1, 4):
        train_step(i, False)

    train_rates, infer_rates = [], []
    for r in range(rounds):  # the median round is reported: shared machines are noisy
        t0 = time.perf_counter()
        for i in range(n_batches):
            train_step(4 + r * n_batches + i, True)
        train_rates.append(n_batches * b / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        with torch.no_grad():
            for x in infer_batches:
                net(x)
        infer_rates.append(sum(len(x) for x in infer_batches) / (time.perf_counter() - t0))
    train_rate = statistics.median(train_rates)
    infer_rate = statistics.median(infer_rates)
    print(f"{name}: warm-up (compile or cache load) {warmup:.2f} s")
    print(f"  training : {train_rate:8.0f} samples/s  (batch {b}, {n_batches} batches x {rounds} "
          f"rounds, median; range {min(train_rates):.0f}-{max(train_rates):.0f}; "
          f"60000-sample epoch {60000 / train_rate:.1f} s)")
    print(f"  inference: {infer_rate:8.0f} samples/s  (batch {infer_batch}, median; range "
          f"{min(infer_rates):.0f}-{max(infer_rates):.0f})")
    n_timed = n_batches * rounds
    for k in range(n_layers):
        print(f"  layer {k + 1}: forward {1000 * fwd[k] / n_timed:6.2f} ms/batch, "
              f"backward {1000 * bwd[k] / n_timed:6.2f} ms/batch")
    print(f"  peak memory so far: {peak_memory_mb():.0f} MB")
    return {"train": train_rate, "infer": infer_rate}


def bench_snntorch(data_dir, n_batches, threads):
    """Training samples/s of the clock-driven snnTorch reference (snntorch_reference.py),
    in a process of its own with the OpenMP wait policy the user had before multispike
    was imported, at one thread and at ``threads``; the faster is the reference (returns
    None when snnTorch is not installed)."""
    if importlib.util.find_spec("snntorch") is None:
        print("snnTorch not installed: no clock-driven reference (pip install snntorch)")
        return None
    config = get_preset("mnist-multispike", data_dir=data_dir, test_size=10,
                        train_size=50 * (n_batches + 1))
    data = load_data(config)
    env = dict(os.environ)
    if USER_OMP_WAIT_POLICY is None:
        env.pop("OMP_WAIT_POLICY", None)
    else:
        env["OMP_WAIT_POLICY"] = USER_OMP_WAIT_POLICY
    script = Path(__file__).with_name("snntorch_reference.py")
    rates = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "reference-data.pt"
        torch.save({"x": data.x_train, "y": data.y_train}, path)
        for n in sorted({1, threads}):
            out = subprocess.run([sys.executable, str(script), str(path), "--batches",
                                  str(n_batches), "--threads", str(n)],
                                 env=env, capture_output=True, text=True)
            if out.returncode:
                raise RuntimeError(f"the snnTorch reference failed:\n{out.stderr}")
            rates[n] = float(out.stdout.split()[-1])
    best = max(rates.values())
    policy = USER_OMP_WAIT_POLICY or "unset (OpenMP default)"
    timed = ", ".join(f"{rate:.0f} samples/s on {n} thread{'s' if n > 1 else ''}"
                      for n, rate in rates.items())
    print(f"snnTorch clock-driven reference (Synaptic, dt = 1 ms, 200 steps, batch 50; own "
          f"process, OMP_WAIT_POLICY {policy}): {timed}; reference {best:.0f} samples/s "
          f"(the faster; 60000-sample epoch {60000 / best:.0f} s)")
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", required=True, help="folder with the MNIST IDX files")
    parser.add_argument("--batches", type=int, default=40, help="timed batches per round")
    parser.add_argument("--rounds", type=int, default=3,
                        help="timed rounds; the median round is reported")
    parser.add_argument("--infer-batch", type=int, default=500, help="inference batch size")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads of the numba kernels (default: all)")
    parser.add_argument("--torch-threads", type=int, default=1,
                        help="threads of torch's own ops in the multispike runs (default 1, as "
                             "`multispike train` sets them; the snnTorch reference is timed at "
                             "1 and at --threads or all cores, the faster counts)")
    parser.add_argument("--presets", default="mnist-multispike,mnist-ttfs,mnist-multispike@3",
                        help="presets to time; NAME@R: with tau_mem = R tau_s")
    parser.add_argument("--snntorch-batches", type=int, default=10,
                        help="timed batches of the clock-driven reference (0 = skip)")
    args = parser.parse_args()
    if args.threads:
        numba.set_num_threads(args.threads)
    all_threads = numba.get_num_threads()
    torch.set_num_threads(args.torch_threads)
    print(f"threads: numba {numba.get_num_threads()}, torch {torch.get_num_threads()}")
    rates = {name: bench_preset(name, args.data_dir, args.batches, args.infer_batch, args.rounds)
             for name in args.presets.split(",")}
    ref = None
    if args.snntorch_batches:
        ref = bench_snntorch(args.data_dir, args.snntorch_batches, all_threads)
        if ref:
            for name, rate in rates.items():
                print(f"{name}: {rate['train'] / ref:.0f}x the clock-driven training throughput")
    memory = peak_memory_mb()
    print(f"peak memory: {memory:.0f} MB")
    report_targets(rates, ref, memory, args.infer_batch)


def target_lines(rates, reference_rate, memory_mb, infer_batch):
    """(target, measured, met) for each target of ``TARGETS``; met is None where this run could
    not decide it (a preset or the reference not run, an inference batch below 100)."""
    multi = rates.get("mnist-multispike")
    ttfs = rates.get("mnist-ttfs")
    lines = []
    if multi:
        lines.append((f"mnist-multispike training >= {TARGETS['train_rate']:.0f} samples/s",
                      f"{multi['train']:.0f}", multi["train"] >= TARGETS["train_rate"]))
        epoch = 60000 / multi["train"]
        lines.append((f"60 000-sample epoch <= {TARGETS['epoch_s']:.0f} s", f"{epoch:.1f} s",
                      epoch <= TARGETS["epoch_s"]))
        ok = multi["infer"] >= TARGETS["infer_rate"] if infer_batch >= 100 else None
        lines.append((f"mnist-multispike inference >= {TARGETS['infer_rate']:.0f} samples/s "
                      f"(batch >= 100)", f"{multi['infer']:.0f} (batch {infer_batch})", ok))
    else:
        lines.append(("mnist-multispike training, epoch and inference targets",
                      "preset not run", None))
    for key, what in (("train", "training"), ("infer", "inference")):
        target = f"mnist-ttfs {what} at least as fast per sample as mnist-multispike"
        if multi and ttfs:
            lines.append((target, f"{ttfs[key]:.0f} vs {multi[key]:.0f}", ttfs[key] >= multi[key]))
        else:
            lines.append((target, "needs both presets", None))
    general = rates.get("mnist-multispike@3")
    target = (f"mnist-multispike at tau_mem = 3 tau_s: training time <= "
              f"{TARGETS['general_ratio_slowdown']:g}x the 2:1 network's")
    if multi and general:
        slowdown = multi["train"] / general["train"]
        lines.append((target, f"{slowdown:.2f}x ({general['train']:.0f} vs {multi['train']:.0f} samples/s)",
                      slowdown <= TARGETS["general_ratio_slowdown"]))
    else:
        lines.append((target, "needs mnist-multispike and mnist-multispike@3", None))
    lines.append((f"peak memory < {TARGETS['memory_mb']:.0f} MB", f"{memory_mb:.0f} MB",
                  memory_mb < TARGETS["memory_mb"]))
    for name, rate in rates.items():
        target = f"{name} >= {TARGETS['reference_ratio']:.0f}x the clock-driven reference"
        if reference_rate:
            ratio = rate["train"] / reference_rate
            lines.append((target, f"{ratio:.0f}x", ratio >= TARGETS["reference_ratio"]))
        else:
            lines.append((target, "not measured", None))
    return lines


def report_targets(rates, reference_rate, memory_mb, infer_batch):
    print("targets:")
    lines = target_lines(rates, reference_rate, memory_mb, infer_batch)
    for target, measured, met in lines:
        verdict = "not decided" if met is None else ("MET" if met else "MISSED")
        print(f"  {verdict:11s} {target}: {measured}")
    decided = [met for _, _, met in lines if met is not None]
    print(f"  {sum(decided)} of {len(decided)} decided targets met"
          + ("" if len(decided) == len(lines) else f", {len(lines) - len(decided)} not decided"))


if __name__ == "__main__":
    main()
