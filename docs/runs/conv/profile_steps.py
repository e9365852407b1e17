"""Time of each step of the conv layers (training and inference) by wrapping module functions.

Usage: python profile_steps.py [THREADS] [cpu|wall] [CHUNKSIZE]
  THREADS: numba threads (default 1); cpu (default): process CPU time, summed over threads;
  wall: wall-clock time (for comparing thread counts); CHUNKSIZE: numba.set_parallel_chunksize.
"""
import sys, time, collections, functools
import numba, torch
import multispike
from multispike import convolution as conv_mod, steps as steps_mod, functional as F_mod, network as net_mod
from multispike.presets import get_preset
from multispike.train import build_network, build_optimizer, compute_loss, load_data

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
clock = {"cpu": time.process_time, "wall": time.perf_counter}[sys.argv[2] if len(sys.argv) > 2 else "cpu"]
numba.set_num_threads(threads); torch.set_num_threads(threads)
if len(sys.argv) > 3:
    numba.set_parallel_chunksize(int(sys.argv[3]))
T = collections.defaultdict(float); N = collections.Counter()
def wrap(mod, name, label=None):
    f = getattr(mod, name)
    label = label or f"{mod.__name__.split('.')[-1]}.{name}"
    @functools.wraps(f)
    def g(*a, **k):
        t0 = clock(); r = f(*a, **k); T[label] += clock() - t0; N[label] += 1; return r
    setattr(mod, name, g)
for name in ["count_position_events", "spread_events", "gather_position_grads", "merge_spike_events",
             "simulate_events", "backpropagate_events", "event_grads_to_slots", "sum_weight_gradient",
             "_to_maps", "_patch_weight", "_simulate", "_spread", "check_spike_maps", "_geometry"]:
    if hasattr(conv_mod, name):
        wrap(conv_mod, name)
for name in ["spike_pool2d"]:
    wrap(net_mod, name)
wrap(F_mod, "infer_lif")
config = get_preset("mnist-conv", data_dir="/work/shared/datasets/mnist")
torch.manual_seed(0)
data = load_data(config)
net = build_network(config, data.n_inputs, data.n_classes)
opt = build_optimizer(config, net)
b = 20
def step(i):
    x, y = data.x_train[i*b:(i+1)*b], data.y_train[i*b:(i+1)*b]
    out = net(x)
    loss = compute_loss(config, out, y)
    opt.zero_grad(set_to_none=True)
    t0 = clock(); loss.backward(); T["BACKWARD(total)"] += clock() - t0
    opt.step()
step(0)
with torch.no_grad(): net(data.x_test[:100])
T.clear(); N.clear()
n = 30
t0 = clock()
for i in range(1, n + 1): step(i)
tt = clock() - t0
print(f"train {n*b/tt:.0f} samples/s ({tt:.2f}s)")
for k, v in sorted(T.items(), key=lambda kv: -kv[1]): print(f"  {k:40s} {1e3*v/(n*b):7.3f} ms/sample  calls {N[k]}")
T.clear(); N.clear()
t0 = clock()
with torch.no_grad():
    for i in range(5): net(data.x_test[i*100:(i+1)*100])
ti = clock() - t0
print(f"infer {500/ti:.0f} samples/s")
for k, v in sorted(T.items(), key=lambda kv: -kv[1]): print(f"  {k:40s} {1e3*v/500:7.3f} ms/sample  calls {N[k]}")
