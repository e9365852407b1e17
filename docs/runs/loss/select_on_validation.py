"""Train a preset and report its accuracy on validation data after every epoch (never the
test set); used to choose TTFS hyperparameters.

Yin-Yang: the publication train / validation split with --data-dir, otherwise generated data
(5000 training samples as in train.load_data, 1000 validation samples of a seed of their own).
Image data: trains on the first N - 5000 training images and validates on the last 5000.

Usage: python docs/runs/loss/select_on_validation.py PRESET SEED [KEY=VALUE ...]
       [--data-dir DIR]   (KEY=VALUE: config overrides, e.g. silent_label_penalty=0.1)
"""
import argparse
import json
import time

import torch

from multispike.config import config_from_dict
from multispike.data import generate_yinyang, load_image_dataset, load_yinyang
from multispike.functional import all_finite
from multispike.encoding import encode_images, encode_yinyang
from multispike.presets import get_preset, n_classes
from multispike.train import build_network, build_optimizer, compute_loss, evaluate, learning_rate

parser = argparse.ArgumentParser()
parser.add_argument("preset")
parser.add_argument("seed", type=int)
parser.add_argument("overrides", nargs="*")
parser.add_argument("--data-dir", default=None)
args = parser.parse_args()
overrides = {k: json.loads(v) for k, v in (o.split("=", 1) for o in args.overrides)}
config = get_preset(args.preset, seed=args.seed, data_dir=args.data_dir, **overrides)
config = config_from_dict(vars(config)).validate()

if config.dataset == "yinyang":
    if config.data_dir is None:
        x_tr, y_tr = generate_yinyang(5000, seed=1000 + config.seed)
        x_va, y_va = generate_yinyang(1000, seed=3000 + config.seed)
    else:
        x_tr, y_tr = load_yinyang(config.data_dir, "train")
        x_va, y_va = load_yinyang(config.data_dir, "validation")
    enc = lambda s: encode_yinyang(s, config.t_early, config.t_late, config.bias_time)  # noqa: E731
else:
    data = load_image_dataset(config.dataset, config.data_dir)
    n = len(data.x_train) - 5000
    if config.train_size is not None:
        n = min(n, config.train_size)
    x_tr, y_tr = data.x_train[:n], data.y_train[:n]
    x_va, y_va = data.x_train[-5000:], data.y_train[-5000:]
    enc = lambda s: encode_images(s, config.t_window)  # noqa: E731
x_tr, x_va = enc(x_tr), enc(x_va)
y_tr, y_va = torch.as_tensor(y_tr, dtype=torch.int64), torch.as_tensor(y_va, dtype=torch.int64)

torch.manual_seed(config.seed)
net = build_network(config, x_tr.shape[1], n_classes(config.dataset))
optimizer = build_optimizer(config, net)
t0 = time.perf_counter()
history = []
for epoch in range(config.epochs):
    for group in optimizer.param_groups:
        group["lr"] = learning_rate(config, epoch)
    order = torch.randperm(len(x_tr), generator=torch.Generator().manual_seed(config.seed * 100003 + epoch))
    net.train()
    for i in range(0, len(x_tr), config.batch_size):
        idx = order[i:i + config.batch_size]
        outputs = [x_tr[idx], *net(x_tr[idx], all_layers=True)]
        loss = compute_loss(config, outputs[-1], y_tr[idx], net, outputs[-2])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if all(all_finite(p.grad) for p in net.parameters() if p.grad is not None):
            optimizer.step()  # as the trainer: a step with a non-finite gradient is skipped
    net.eval()
    history.append(evaluate(net, x_va, y_va, config.prediction_rule)["accuracy"])
print(json.dumps({"preset": args.preset, "seed": args.seed, "data_dir": args.data_dir,
                  "overrides": overrides, "final_validation": history[-1],
                  "best_validation": max(history), "validation": [round(a, 4) for a in history],
                  "seconds": round(time.perf_counter() - t0, 1)}), flush=True)
