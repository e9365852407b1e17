import sys, time
import multispike, numba, torch
from multispike.presets import get_preset
from multispike.train import build_network, load_data
from multispike import convolution as cv
from multispike.steps import simulate_events
from multispike.functional import spike_pool2d
threads = int(sys.argv[1]); numba.set_num_threads(threads); torch.set_num_threads(threads)
cfg = get_preset("mnist-conv", data_dir="/work/shared/datasets/mnist")
torch.manual_seed(0)
data = load_data(cfg)
net = build_network(cfg, data.n_inputs, data.n_classes)
B = int(sys.argv[2]) if len(sys.argv) > 2 else 20
x = data.x_train[:B]
with torch.no_grad():
    t = x.reshape(B, *net.input_shape, x.shape[-1])
    t = spike_pool2d(net.layers[0](t), 2)
layer = net.layers[1]
params = layer.params if hasattr(layer, "params") else None
g = cv._geometry(t, layer.weight, 1, 0)
W = layer.weight.detach()
def parts(reps=10):
    acc = {}
    for r in range(reps + 1):
        T = {}
        t0 = time.perf_counter()
        k = params.constants(t.dtype); wt = cv._patch_weight(W)
        T['patch'] = time.perf_counter() - t0; t0 = time.perf_counter()
        events, counts, rows = cv._spread(t, g, k)
        T['spread'] = time.perf_counter() - t0; t0 = time.perf_counter()
        pos_times, pos_patch, pos_event, ds, d, ze = rows
        out, sat, log = simulate_events(pos_times, pos_patch, counts.view(-1), ds, d, ze, wt, k, params.max_spikes, 1)
        T['simulate'] = time.perf_counter() - t0; t0 = time.perf_counter()
        o = cv._to_maps(out, B, g); s = cv._to_maps(sat, B, g)
        T['to_maps'] = time.perf_counter() - t0
        if r:
            for kk, v in T.items(): acc[kk] = acc.get(kk, 0) + v
    tot = sum(acc.values())
    print(threads, "threads, rows", pos_times.shape, "counts mean", float(counts.float().mean()), {k: round(v / reps / B * 1e3, 3) for k, v in acc.items()}, "ms/sample total", round(tot / reps / B * 1e3, 3))
parts()
