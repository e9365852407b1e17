"""How much of a trained TTFS network's training loss comes from samples whose label neuron
is silent (ttfs_cross_entropy gives them the stand-in time t_max and no gradient).

Usage: python docs/runs/zen5/silent_label_neurons.py RUN_DIR [RUN_DIR ...]
(RUN_DIR: the --out folder of a `multispike train` run with a TTFS preset; reads last.pt)
"""
import sys

import torch

import multispike  # noqa: F401
from multispike.losses import first_spike_times, predict
from multispike.train import compute_loss, load_data, load_trained

for run in sys.argv[1:]:
    net, config = load_trained(f"{run}/last.pt")
    data = load_data(config)
    with torch.no_grad():
        out = net(data.x_train)
    y = data.y_train
    label_time = first_spike_times(out)[torch.arange(len(y)), y]
    silent = torch.isinf(label_time)
    accuracy = (predict(out, "first_spike") == y).float().mean().item()
    per_class = [f"{100 * silent[y == c].float().mean().item():.1f} %"
                 for c in range(data.n_classes)]
    print(f"{run}: training loss {compute_loss(config, out, y).item():.3f}, accuracy "
          f"{100 * accuracy:.2f} %; label neuron silent on {100 * silent.float().mean().item():.2f} % "
          f"of the training samples (per class: {', '.join(per_class)}); loss over the other "
          f"samples {compute_loss(config, out[~silent], y[~silent]).item():.3f}")
