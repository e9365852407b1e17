"""The clock-driven reference of bench_training.py: the 784-800-10 MNIST network as an
snnTorch model (Synaptic neurons with alpha = exp(-dt/tau_s), beta = exp(-dt/tau),
tau = 2 tau_s, thresholds 0.2 / 1.3, 1 ms steps over 200 ms, spike-count loss with targets
15 / 3, Adam lr 0.003, batch 50), trained for N timed batches after one warm-up batch.

It runs in a process of its own, started by bench_training.py, so that it gets torch's
default OpenMP behaviour as a user running snnTorch alone would: ``import multispike``
selects passive OpenMP waiting, which suits the numba kernels but slows torch's many small
multi-threaded operations. It imports torch and snnTorch only.

Usage: python benchmarks/snntorch_reference.py DATA.pt --batches N --threads T
(DATA.pt: {"x": (batch, 784, 1) spike times, "y": labels}, at least 50 (N + 1) samples).
Prints the training samples/s on its last line.
"""
import argparse
import time

import torch


def clock_driven_rate(x, y, n_batches, tau_s=0.13, dt=0.001, t_end=0.2, batch=50):
    import snntorch as snn

    steps = int(round(t_end / dt))
    alpha = float(torch.exp(torch.tensor(-dt / tau_s)))
    beta = float(torch.exp(torch.tensor(-dt / (2 * tau_s))))

    class ClockDriven(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = torch.nn.Linear(784, 800, bias=False)
            self.fc2 = torch.nn.Linear(800, 10, bias=False)
            self.lif1 = snn.Synaptic(alpha=alpha, beta=beta, threshold=0.2)
            self.lif2 = snn.Synaptic(alpha=alpha, beta=beta, threshold=1.3)

        def forward(self, spikes):  # spikes: (steps, batch, 784)
            syn1, mem1 = self.lif1.init_synaptic()
            syn2, mem2 = self.lif2.init_synaptic()
            count = 0
            for step in range(spikes.shape[0]):
                s1, syn1, mem1 = self.lif1(self.fc1(spikes[step]), syn1, mem1)
                s2, syn2, mem2 = self.lif2(self.fc2(s1), syn2, mem2)
                count = count + s2
            return count

    torch.manual_seed(0)
    net = ClockDriven()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.003)

    def encode(times):  # (batch, 784, 1) spike times -> (steps, batch, 784) binary raster
        idx = torch.round(times[..., 0] / dt).clamp(max=steps - 1)
        raster = torch.zeros(steps, times.shape[0], 784)
        fired = torch.isfinite(times[..., 0])
        b, n = fired.nonzero(as_tuple=True)
        raster[idx[b, n].long(), b, n] = 1.0
        return raster

    def step(i):
        spikes = encode(x[i * batch:(i + 1) * batch])
        labels = y[i * batch:(i + 1) * batch]
        target = torch.full((batch, 10), 3.0)
        target[torch.arange(batch), labels] = 15.0
        loss = 0.5 * ((net(spikes) - target) ** 2).sum() / batch
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step(0)
    t0 = time.perf_counter()
    for i in range(n_batches):
        step(1 + i)
    return n_batches * batch / (time.perf_counter() - t0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="torch file with the encoded samples x and labels y")
    parser.add_argument("--batches", type=int, required=True, help="timed batches of 50")
    parser.add_argument("--threads", type=int, required=True, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = torch.load(args.data)
    print(clock_driven_rate(data["x"], data["y"], args.batches))


if __name__ == "__main__":
    main()
