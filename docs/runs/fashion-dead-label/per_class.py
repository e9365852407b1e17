"""Output spikes and recall per class of the two runs of run.sh (full Fashion-MNIST test set)."""
import torch

from multispike.losses import predict_spike_count, spike_counts
from multispike.train import load_data, load_trained

for p in (0, 1):
    net, config = load_trained(f"/work/runs/fashion-s2-penalty{p}/last.pt",
                               "/work/shared/datasets/fashion-mnist")
    data = load_data(config)
    with torch.no_grad():
        out = net(data.x_test)
    pred, y = predict_spike_count(out), data.y_test
    print(f"silent_label_penalty {p}: mean output spikes per label neuron (classes 0-9)",
          [round(v, 2) for v in spike_counts(out).float().mean(0).tolist()])
    print(f"silent_label_penalty {p}: recall per class",
          [round(float((pred[y == c] == c).float().mean()), 3) for c in range(10)],
          "test accuracy", round(float((pred == y).float().mean()), 4))
