"""Prediction latency on hand-made output spike trains (multispike.latency)."""
import math

import pytest
import torch

from multispike.latency import (accuracy_over_time, decision_times, decisions_at, default_time_grid,
                                latency_summary)
from multispike.losses import predict

INF = math.inf

# sample 0: class 0 at 0.5, 2, 3; class 1 at 1, 1.5 -> counts lead 0, 0 (tie, earlier first), 1, 0 (tie), 0
# sample 1: silent
# sample 2: class 2 at 0.2 and 3; classes 0 and 1 fire together at 1.0
OUT = torch.tensor([[[0.5, 2.0, 3.0], [1.0, 1.5, INF], [INF, INF, INF]],
                    [[INF, INF, INF], [INF, INF, INF], [INF, INF, INF]],
                    [[1.0, INF, INF], [1.0, INF, INF], [0.2, 3.0, INF]]])


def test_ttfs_decision_is_the_first_output_spike():
    t, d = decision_times(OUT, "first_spike")
    assert t.tolist() == [0.5, INF, pytest.approx(0.2)]
    assert d.tolist() == [0, -1, 2]
    dec = decisions_at(OUT, [0.0, 0.5, 0.51, 2.5, 10.0], "first_spike")
    assert dec.tolist() == [[-1, -1, 0, 0, 0], [-1] * 5, [-1, 2, 2, 2, 2]]


def test_spike_count_decisions_follow_the_counts_with_first_spike_ties():
    dec = decisions_at(OUT, [0.1, 0.6, 1.2, 1.6, 2.5, 3.5], "spike_count")
    assert dec[0].tolist() == [-1, 0, 0, 1, 0, 0]
    assert dec[2].tolist() == [-1, 2, 2, 2, 2, 2]
    t, d = decision_times(OUT, "spike_count")
    # sample 0 last changes at t = 2 (class 0 catches up and wins the tie by its earlier first spike)
    assert t.tolist() == [2.0, INF, pytest.approx(0.2)]
    assert d.tolist() == [0, -1, 2]


def test_decision_is_from_spikes_strictly_before_t():
    out = torch.tensor([[[1.0], [INF]]])
    assert decisions_at(out, [1.0, 1.0 + 1e-9], "first_spike").tolist() == [[-1, 0]]


def test_simultaneous_spikes_are_one_event():
    # classes 0 and 1 both reach two spikes at t = 2; the tie goes to class 1 (earlier first spike)
    out = torch.tensor([[[0.5, 2.0], [0.3, 2.0]]])
    t, d = decision_times(out, "spike_count")
    assert d.tolist() == [1] and t.tolist() == [pytest.approx(0.3)]
    out = torch.tensor([[[1.0, 2.0, 2.0], [0.3, INF, INF]]])  # class 0 overtakes with two spikes at once
    t, d = decision_times(out, "spike_count")
    assert d.tolist() == [0] and t.tolist() == [2.0]


def _random_trains(seed, batch=150, classes=4, slots=5):
    g = torch.Generator().manual_seed(seed)
    # coarse times so that ties across classes happen often; about a third of the slots empty
    times = torch.randint(0, 12, (batch, classes, slots), generator=g).to(torch.float64) / 4
    times[torch.rand(times.shape, generator=g) < 0.35] = INF
    return times.sort(-1).values, torch.randint(0, classes, (batch,), generator=g)


@pytest.mark.parametrize("rule", ["first_spike", "spike_count"])
def test_final_decision_and_decision_time_agree_with_the_grid(rule):
    out, _ = _random_trains(1)
    t_dec, final = decision_times(out, rule)
    assert torch.equal(final, predict(out, rule))
    eps = 1e-6
    for i in range(len(out)):
        if math.isinf(t_dec[i]):
            assert final[i] == -1 and torch.isinf(out[i]).all()
            continue
        spikes = out[i][torch.isfinite(out[i])].unique().tolist()
        later = [s + eps for s in spikes if s >= t_dec[i]] + [10.0]
        assert (decisions_at(out[i:i + 1], later, rule) == final[i]).all()
        # just before the decision time (and so at it) the decision was different
        assert decisions_at(out[i:i + 1], [t_dec[i].item()], rule).item() != final[i]


def test_ttfs_accuracy_over_time_never_decreases_and_ends_at_the_accuracy():
    out, labels = _random_trains(2)
    grid = default_time_grid(out, 100)
    acc = accuracy_over_time(out, labels, grid, "first_spike")
    assert (acc[1:] >= acc[:-1]).all()
    assert acc[0] == 0
    final = (predict(out, "first_spike") == labels).double().mean()
    assert acc[-1].item() == pytest.approx(final.item())


def test_spike_count_accuracy_can_drop_over_time():
    # label 0: class 0 leads, class 1 overtakes, class 0 wins in the end
    out = torch.tensor([[[0.1, 3.0, 3.5], [1.0, 2.0, INF]]])
    acc = accuracy_over_time(out, torch.tensor([0]), [0.5, 2.5, 4.0], "spike_count")
    assert acc.tolist() == [1.0, 0.0, 1.0]
    t, _ = decision_times(out, "spike_count")
    assert t.item() == 3.0  # 2-2 at t=3 goes to class 0 by its earlier first spike


def test_fraction_of_settled_decisions_never_decreases():
    out, _ = _random_trains(3)
    t_dec, _ = decision_times(out, "spike_count")
    grid = default_time_grid(out, 50)
    settled = (t_dec.unsqueeze(1) < grid).double().mean(0)
    assert (settled[1:] >= settled[:-1]).all()


def test_latency_summary_uses_correct_predictions():
    labels = torch.tensor([0, 0, 1])  # sample 0 correct (t=2), 1 undecided, 2 wrong
    s = latency_summary(OUT, labels, "spike_count")
    assert s.accuracy == pytest.approx(1 / 3)
    assert s.decided_fraction == pytest.approx(2 / 3)
    assert s.mean_decision_time_correct == 2.0 and s.median_decision_time_correct == 2.0
    assert s.mean_decision_time == pytest.approx((2.0 + 0.2) / 2)
    none_correct = latency_summary(OUT, torch.tensor([1, 0, 0]), "first_spike")
    assert math.isnan(none_correct.mean_decision_time_correct)


def test_errors_and_empty_batches():
    with pytest.raises(ValueError, match="rule"):
        decision_times(OUT, "majority")
    with pytest.raises(ValueError, match="NaN"):
        decisions_at(torch.full((1, 2, 1), math.nan), [1.0], "first_spike")
    t, d = decision_times(torch.zeros(0, 3, 2), "spike_count")
    assert t.shape == (0,) and d.shape == (0,)
    assert accuracy_over_time(torch.zeros(0, 3, 2), torch.zeros(0, dtype=torch.int64), [1.0, 2.0],
                              "spike_count").tolist() == [0.0, 0.0]


def test_chunking_does_not_change_results(monkeypatch):
    import multispike.latency as latency

    out, labels = _random_trains(4)
    grid = default_time_grid(out, 30)
    whole = [decision_times(out, "spike_count")[0], decisions_at(out, grid, "spike_count")]
    monkeypatch.setattr(latency, "_chunk", lambda batch, per_sample, budget=0: 7)
    parts = [decision_times(out, "spike_count")[0], decisions_at(out, grid, "spike_count")]
    assert torch.equal(whole[0], parts[0]) and torch.equal(whole[1], parts[1])


def test_unsorted_slots_are_accepted():
    out = torch.tensor([[[2.0, 0.5, INF], [1.0, INF, 1.5]]])
    assert decisions_at(out, [0.6, 1.6, 2.5], "spike_count").tolist() == [[0, 1, 0]]
    assert decision_times(out, "spike_count")[0].tolist() == [2.0]
