"""Per-layer CPU time (best of N, 1 thread) of mnist-conv at initialisation on 100 MNIST
test images (training batch: first 20): training forward / backward and inference of each
convolution and of the pooling, through the public API only."""
import sys, time, numba, torch
numba.set_num_threads(1); torch.set_num_threads(1)
import multispike
from multispike.functional import spike_pool2d
from multispike.presets import get_preset
from multispike.train import build_network, load_data
config = get_preset("mnist-conv", data_dir="/work/shared/datasets/mnist")
torch.manual_seed(0)
data = load_data(config)
net = build_network(config, data.n_inputs, data.n_classes)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 7
def best(f, n_samples):
    f()
    b = 1e9
    for _ in range(N):
        t0 = time.process_time(); f(); b = min(b, time.process_time() - t0)
    return 1e3 * b / n_samples
x100 = data.x_test[:100].reshape(100, 1, 28, 28, 1)
with torch.no_grad():
    h0 = net.layers[0](x100); p0 = spike_pool2d(h0, 2); h1 = net.layers[1](p0)
inputs = {0: x100, 1: p0}
rows = []
for li in (0, 1):
    layer = net.layers[li]
    xin = inputs[li][:20]
    g = torch.Generator().manual_seed(li)
    out = layer(xin.clone().requires_grad_(li > 0))
    up = torch.randn(out.shape, generator=g)
    def fwd():
        return layer(xin.clone().requires_grad_(li > 0))
    def fwd_bwd():
        o = layer(xin.clone().requires_grad_(li > 0))
        (torch.where(torch.isfinite(o), o, torch.zeros_like(o)) * up).sum().backward()
    f = best(fwd, 20); fb = best(fwd_bwd, 20)
    with torch.no_grad():
        inf = best(lambda: layer(inputs[li]), 100)
    rows.append(f"conv layer {li}: training forward {f:.3f}  backward {fb - f:.3f}  inference {inf:.3f} ms/sample")
hp = h0[:20].clone().requires_grad_()
po = spike_pool2d(hp, 2); upp = torch.randn(po.shape)
def pool_fb():
    o = spike_pool2d(hp, 2); (torch.where(torch.isfinite(o), o, torch.zeros_like(o)) * upp).sum().backward()
with torch.no_grad():
    pinf = best(lambda: spike_pool2d(h0, 2), 100)
rows.append(f"pool after layer 0: training forward+backward {best(pool_fb, 20):.3f}  inference {pinf:.3f} ms/sample")
print("\n".join(rows))
