import sys, time, collections
import multispike, numba, torch
import multispike.convolution as cv
import multispike.kernels.pool as kp
from multispike.presets import get_preset
from multispike.train import build_network, build_optimizer, compute_loss, load_data
threads = int(sys.argv[1]); numba.set_num_threads(threads); torch.set_num_threads(1)
T = collections.defaultdict(float)
def wrap(mod, name, label=None):
    f = getattr(mod, name)
    def g(*a, **k):
        t0 = time.perf_counter(); r = f(*a, **k); T[label or name] += time.perf_counter() - t0; return r
    setattr(mod, name, g)
for n in ["merge_spike_events", "count_position_events", "spread_events", "simulate_events", "_to_maps",
          "backpropagate_events", "gather_position_grads", "event_grads_to_slots", "sum_weight_gradient", "_patch_weight", "_pool"]:
    wrap(cv, n)
import multispike.functional as F
for n in ["lif_layer"]:
    if hasattr(F, n): pass
cfg = get_preset("mnist-conv", data_dir="/work/shared/datasets/mnist")
torch.manual_seed(0)
data = load_data(cfg)
net = build_network(cfg, data.n_inputs, data.n_classes)
opt = build_optimizer(cfg, net)
b = 20
def step(i):
    x, y = data.x_train[i*b:(i+1)*b], data.y_train[i*b:(i+1)*b]
    out = net(x, all_layers=True)
    loss = compute_loss(cfg, out[-1], y)
    opt.zero_grad(); loss.backward(); opt.step()
step(0); T.clear()
t0 = time.perf_counter()
N = 30
for i in range(1, N + 1):
    step(i)
total = time.perf_counter() - t0
acc = sum(T.values())
print(f"{threads} threads: {N*b/total:.0f} samples/s, step {1e3*total/N:.1f} ms; timed parts {1e3*acc/N:.1f} ms, rest {1e3*(total-acc)/N:.1f} ms")
for k, v in sorted(T.items(), key=lambda kv: -kv[1]):
    print(f"   {k:24s} {1e3*v/N:7.2f} ms/step")
