"""Cross-check of the NIR interchange on a trained network: multispike against itself and
against snnTorch.

1. Round trip: the checkpoint's network -> .nir file -> multispike. Weights and every
   layer's spike times on the test set must be identical.
2. multispike -> NIR -> snnTorch (``snntorch.import_from_nir``): the graph is written for a
   clock of 1e-4 s (``dt=1e-4``), and ``time_unit`` seconds per multispike time unit sets
   the step in our units, 1e-4 / time_unit. snnTorch simulates it as imported (reset to
   zero) and with reset by subtraction; spike times and test accuracy are compared with the
   exact ones.
3. snnTorch -> NIR -> multispike: an snnTorch CuBa LIF network (the trained weights, written
   the snnTorch way) exported by snnTorch itself, read by ``multispike.nir.from_nir`` and
   simulated exactly, against snnTorch's own simulation of it. Fully connected networks
   only: snnTorch exports pooling as AvgPool2d, not as our spike pooling.

A convolutional checkpoint runs steps 1 and 2 (its graph has Conv2d, SumPool2d and Flatten
nodes; snnTorch's Flatten is shifted by the batch axis, see tests/snntorch_peer.py).

NIR has no spike-slot limit: snnTorch lets a neuron fire as often as its membrane makes it,
where multispike drops a neuron's spikes beyond its ``max_spikes``. Steps 2 and 3 therefore
compare snnTorch with the exact simulation of the graph as NIR defines it, multispike with
``--slots`` slots per neuron (checked to be enough: no neuron fills them); the accuracy of the
trained network with its own slot limits is printed beside it.

Both simulators get the same input times, rounded to the snnTorch grid. Spike-time
differences are in units of the snnTorch step; see tests/snntorch_peer.py for the measures.

Usage: python benchmarks/nir_crosscheck.py CHECKPOINT [--data-dir DIR] [--time-units 0.1,0.4]
       [--slots 64] [--test-size N] [--json OUT.json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from multispike.losses import predict  # noqa: E402
from multispike.nir import from_nir, read_graph, to_nir, write_graph  # noqa: E402
from multispike.train import load_data, load_trained  # noqa: E402
from snntorch_peer import (SNNTORCH_DT, agreement, export_native, import_into_snntorch,  # noqa: E402
                           native_network, simulate, with_batch_axis_flatten, with_subtractive_reset)


def accuracy(out_times, labels, rule) -> float:
    return float((predict(out_times, rule) == labels).double().mean())


def closest_approach(net, x, ours, theirs, step):
    """For the hidden neuron whose first spike differs most between the two simulators: the
    exact membrane's highest value within 50 steps of snnTorch's spike time (and before our
    spike). Just below the threshold, the clock's small error decides whether the neuron
    fires there or later. Layer 0 only: its membrane follows from the input spikes alone,
    u = sum_j W_j tau (exp(-s_j/tau) - exp(-s_j/tau_s)) with s_j the time since input j."""
    both = torch.isfinite(ours[..., 0]) & torch.isfinite(theirs[..., 0])
    gap = (ours[..., 0] - theirs[..., 0]).abs().masked_fill(~both, 0)
    b, n = divmod(int(gap.argmax()), gap.shape[1])
    layer = net.layers[0]
    tau_s, tau = layer.tau_s, 2 * layer.tau_s
    t_in = x[b, :, 0].double()
    weight = layer.weight[n].double()

    def membrane(t):
        s = (t - t_in).clamp(min=0)
        return float((weight * tau * (torch.exp(-s / tau) - torch.exp(-s / tau_s))).sum())

    t_ours, t_theirs = float(ours[b, n, 0]), float(theirs[b, n, 0])
    end = min(t_theirs + 50 * step, t_ours)
    grid = torch.linspace(max(t_theirs - 50 * step, 0.0), end, 2001, dtype=torch.float64)
    peak = max((t for t in grid.tolist() if t < t_ours), key=membrane)
    return {"sample": b, "neuron": n, "t_exact": t_ours, "t_snntorch": t_theirs,
            "peak_before": membrane(peak), "peak_time": peak, "u_at_snntorch_time": membrane(t_theirs),
            "threshold": layer.threshold}


def report(title, ours, theirs, step, labels, rule) -> dict:
    layers = [agreement(a, b, step) for a, b in zip(ours, theirs)]
    result = {"title": title, "accuracy_ours": accuracy(ours[-1], labels, rule),
              "accuracy_snntorch": accuracy(theirs[-1], labels, rule), "layers": layers}
    print(f"  {title}: accuracy exact {result['accuracy_ours']:.4f}, snnTorch {result['accuracy_snntorch']:.4f}")
    for i, s in enumerate(layers):
        print(f"    layer {i}: equal spike counts {s['equal_counts']:.4f} of {s['neurons']} neurons "
              f"(spikes {s['spikes_ours']} exact / {s['spikes_theirs']} snnTorch); |t - t_snnTorch| / step "
              f"median {s['median']:.2f}, p90 {s['p90']:.2f}, p99 {s['p99']:.2f}, max {s['max']:.2f}; "
              f"mean (t - t_snnTorch) / step {s['mean_signed']:+.2f}; first spikes max {s['first_max']:.2f}")
    return result


@torch.no_grad()
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--time-units", default="0.1,0.4",
                        help="seconds per multispike time unit, one comparison each (step = 1e-4 / value)")
    parser.add_argument("--slots", type=int, default=64,
                        help="spike slots per neuron of the exact simulation without slot limits")
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--json", default=None, help="write the measurements here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    net, config = load_trained(args.checkpoint, data_dir=args.data_dir)
    data = load_data(config)
    x, y = data.x_test[:args.test_size], data.y_test[:args.test_size]
    rule = config.prediction_rule
    t_end = config.t_max
    if not math.isfinite(t_end):
        raise SystemExit("the network has no t_max: a clock-driven simulation needs an end")
    print(f"{config.name} ({net.architecture}): {' -> '.join(map(str, net.sizes))}, tau_s {config.tau_s}, thresholds "
          f"{config.thresholds}, max_spikes {config.max_spikes}, t_max {t_end}; {len(y)} test samples")
    results = {"checkpoint": str(args.checkpoint), "config": config.name, "samples": len(y), "comparisons": []}

    with tempfile.TemporaryDirectory() as tmp:
        path = write_graph(to_nir(net), Path(tmp) / "net.nir")
        back = from_nir(path)
        same_w = all(torch.equal(a.weight, b.weight) for a, b in zip(net.layers, back.layers))
        same_t = all(torch.equal(a, b) for a, b in zip(net(x, all_layers=True), back(x, all_layers=True)))
        print(f"round trip through {path.name}: identical weights {same_w}, identical spike times of every "
              f"layer on {len(y)} test samples {same_t}; test accuracy {accuracy(back(x), y, rule):.4f}")
        results["round_trip"] = {"identical_weights": same_w, "identical_spike_times": same_t}

        unlimited = from_nir(path, max_spikes=args.slots)  # the graph as NIR defines it
        slots = [args.slots] * len(net.layers)
        acc_limited = accuracy(net(x), y, rule)
        acc_unlimited = accuracy(unlimited(x), y, rule)
        saturated = [layer.n_saturated for layer in unlimited.layers]
        print(f"test accuracy of the trained network with its slot limits {config.max_spikes}: "
              f"{acc_limited:.4f}; with {args.slots} slots (NIR has no limit): {acc_unlimited:.4f}, "
              f"neurons that filled them: {saturated}")
        results.update(accuracy_slot_limited=acc_limited, accuracy_unlimited=acc_unlimited,
                       slots=args.slots, saturated_unlimited=saturated)

        for time_unit in [float(v) for v in args.time_units.split(",")]:
            step = SNNTORCH_DT / time_unit
            xr = torch.round(x.double() / step) * step  # both simulators get the grid's input times
            ours = [t.double() for t in unlimited(xr.to(x.dtype), all_layers=True)]
            graph = to_nir(net, time_unit=time_unit, dt=SNNTORCH_DT)
            print(f"multispike -> NIR (time unit {time_unit} s, dt 1e-4 s) -> snnTorch, step {step:g} "
                  f"= tau_s / {config.tau_s / step:.0f}, {math.ceil(t_end / step) + 1} steps")
            start = time.perf_counter()
            shape = net.input_shape  # None: flat inputs

            def snntorch_module():
                return with_batch_axis_flatten(import_into_snntorch(graph))

            theirs = simulate(snntorch_module(), xr, step, t_end, slots, shape)
            results["comparisons"].append({"direction": "to snnTorch", "time_unit": time_unit, "step": step,
                                           **report("as imported (reset to zero)", ours, theirs, step, y, rule)})
            theirs = simulate(with_subtractive_reset(snntorch_module()), xr, step, t_end, slots, shape)
            results["comparisons"].append({"direction": "to snnTorch, subtractive reset", "time_unit": time_unit,
                                           "step": step, **report("reset by subtraction", ours, theirs, step, y, rule)})
            if shape is not None:
                print("  (convolutional network: snnTorch's own export, step 3, is for fully connected "
                      f"networks only) ({time.perf_counter() - start:.0f} s)")
                continue
            worst = closest_approach(unlimited, xr, ours[0], theirs[0], step)
            print(f"    largest first-spike gap of layer 0: sample {worst['sample']}, neuron {worst['neuron']}, "
                  f"exact {worst['t_exact']:.4f}, snnTorch {worst['t_snntorch']:.4f}; the exact membrane "
                  f"peaks at {worst['peak_before']:.6f} (threshold {worst['threshold']}) at {worst['peak_time']:.4f}, "
                  f"near snnTorch's spike ({worst['u_at_snntorch_time']:.6f} there)")
            results["comparisons"][-1]["largest_first_spike_gap"] = worst

            native = native_network([layer.weight for layer in net.layers],
                                    [layer.threshold for layer in net.layers], config.tau_s, step)
            path = write_graph(export_native(native, net.sizes[0]), Path(tmp) / "snntorch.nir")
            imported = from_nir(path, max_spikes=slots, t_max=t_end, time_unit=time_unit, dt=SNNTORCH_DT)
            w_err = max(float(((a.weight - b.weight).abs() / b.weight.abs().max()).max())
                        for a, b in zip(imported.layers, net.layers))
            ours = [t.double() for t in imported(xr.to(x.dtype), all_layers=True)]
            theirs = simulate(native, xr, step, t_end, slots)
            print(f"snnTorch's own export ({len(read_graph(path).nodes)} nodes) -> multispike: tau_s "
                  f"{imported.layers[0].tau_s:.6g}, weights within {w_err:.1e} of the trained ones (relative)")
            results["comparisons"].append({"direction": "from snnTorch export", "time_unit": time_unit,
                                           "step": step, "weight_rel_err": w_err,
                                           **report("snnTorch's network, exact vs its own simulation",
                                                    ours, theirs, step, y, rule)})
            print(f"  ({time.perf_counter() - start:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
