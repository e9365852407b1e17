"""``multispike export`` and ``multispike import``: the command-line face of :mod:`multispike.nir`."""
from __future__ import annotations

import argparse
import dataclasses
import json

__all__ = ["add_nir_parsers"]

CONFIG_KEY = "multispike_config"  # graph metadata: the training config as JSON (data encoding)


def _seconds(text):
    return None if text.lower() in ("none", "") else float(text)


def add_nir_parsers(subparsers) -> None:
    """Register ``export`` and ``import`` on an argparse subparsers object (sets args.handler)."""
    from ..presets import PRESETS

    units = argparse.ArgumentParser(add_help=False)
    units.add_argument("--time-unit", type=float, default=None, metavar="SECONDS",
                       help="seconds per multispike time unit (export default 1; import default: the "
                            "file's metadata, else 1)")
    units.add_argument("--dt", type=_seconds, default=None, metavar="SECONDS",
                       help="input spikes are one-step pulses of a clock with this step, as snnTorch "
                            "reads them (1e-4); default: Dirac impulses, NIR's equations read literally "
                            "(on import: the file's metadata)")

    p = subparsers.add_parser("export", parents=[units], help="write a checkpoint as a NIR graph",
                              description="Write the network of a checkpoint as a NIR file (Linear or "
                                          "Conv2d + CubaLIF per layer; see multispike.nir for the "
                                          "mapping).")
    p.add_argument("checkpoint", help="a best.pt or last.pt file")
    p.add_argument("out", help="the .nir file to write")
    p.set_defaults(handler=_cmd_export)

    p = subparsers.add_parser("import", parents=[units],
                              help="evaluate a NIR graph with the exact simulator",
                              description="Read a NIR file and report its test accuracy, simulated "
                                          "exactly. Files written by `multispike export` carry their "
                                          "data encoding; for others give --preset (and --max-spikes).")
    p.add_argument("file", help="a .nir file")
    p.add_argument("--preset", default=None, choices=list(PRESETS),
                   help="data set and encoding of a preset (default: the configuration stored in the file)")
    p.add_argument("--data-dir", default=None, help="data folder (default: the configuration's)")
    p.add_argument("--max-spikes", default=None, type=lambda t: [int(v) for v in t.split(",")],
                   help="spike slots per neuron, one or one per layer (default: the file's metadata)")
    p.add_argument("--t-max", type=float, default=None, help="simulation end in multispike time units "
                                                            "(default: the file's metadata, else inf)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(handler=_cmd_import)


def _cmd_export(args) -> int:
    from ..checkpoint import load_trained
    from .graph import require_nir, to_nir, write_graph

    require_nir()  # a missing nir package is reported before any work
    net, config = load_trained(args.checkpoint)
    graph = to_nir(net, time_unit=1.0 if args.time_unit is None else args.time_unit, dt=args.dt,
                   metadata={CONFIG_KEY: json.dumps(dataclasses.asdict(config))})
    write_graph(graph, args.out)
    layers = " -> ".join(str(n) for n in net.sizes)
    if net.input_shape is not None:
        layers = "x".join(str(n) for n in net.input_shape) + "-" + net.architecture
    synapses = [type(node).__name__ for node in graph.nodes.values() if type(node).__name__ in ("Conv2d", "Linear")]
    print(f"wrote {args.out}: {layers} as {len(net.layers)} layers ({', '.join(synapses)}, each followed by "
          "CubaLIF neurons) "
          f"(time unit {graph.metadata['time_unit']} s, input spikes {graph.metadata['spike_input']}); "
          f"the spike-slot limits {graph.metadata['max_spikes']} are kept in the metadata only: "
          "other simulators let a neuron fire as often as its membrane makes it")
    return 0


def _cmd_import(args) -> int:
    from ..config import config_from_dict
    from ..presets import get_preset
    from ..splits import load_data
    from ..train import evaluate
    from .graph import from_nir, read_graph, require_nir

    require_nir()  # a missing nir package is reported before any work
    graph = read_graph(args.file)
    stored = graph.metadata.get(CONFIG_KEY) if isinstance(graph.metadata, dict) else None
    if args.preset is not None:
        config = get_preset(args.preset)
    elif stored is not None:
        config = config_from_dict(json.loads(stored))
    else:
        raise ValueError(f"{args.file} does not say which data it was trained on: pass --preset")
    if args.data_dir is not None:
        config.data_dir = args.data_dir
    max_spikes = args.max_spikes[0] if args.max_spikes and len(args.max_spikes) == 1 else args.max_spikes
    net = from_nir(graph, max_spikes=max_spikes, t_max=args.t_max, time_unit=args.time_unit, dt=args.dt)
    data = load_data(config)
    if data.n_inputs != net.sizes[0] or data.n_classes != net.sizes[-1]:
        raise ValueError(f"the graph maps {net.sizes[0]} inputs to {net.sizes[-1]} outputs, but "
                         f"{config.dataset} has {data.n_inputs} inputs and {data.n_classes} classes")
    result = evaluate(net, data.x_test, data.y_test, config.prediction_rule, config.eval_batch_size)
    if args.json:
        print(json.dumps({"file": str(args.file), "split": "test", **result}))
    else:
        spikes = ", ".join(f"{s:.1f}" for s in result["spikes_per_sample"])
        print(f"{args.file} ({config.dataset}, exact simulation): test accuracy {result['accuracy']:.4f} "
              f"on {len(data.y_test)} samples; spikes per sample per layer [{spikes}]")
    return 0
