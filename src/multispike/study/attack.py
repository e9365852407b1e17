"""Experiment 6, adversarial robustness: white-box attacks on the input spike times.

The networks of the accuracy experiment (every seed of both regimes, or the networks given
with ``--checkpoint-<regime>``) are attacked on the test set with the attacks of
:mod:`multispike.attacks`, each maximising the regime's own training loss with the exact
gradients with respect to the input spike times:

* time shifts of at most epsilon per spike, inside the encoding window (Yin-Yang:
  [t_early, t_late]; images: [0, t_window]): FGSM, PGD (sign steps, random restarts) and,
  as the gradient-free reference, the best of a number of uniform random draws from the same
  ball; epsilon is given as a fraction of the coding window (as the jitter of the noise
  experiment);
* deletion of up to k input spikes, one after the other: chosen by the first-order estimate
  dL/dt_j (t_max - t_j) (moving a spike to the first layer's t_max deletes it exactly), or by
  the exact loss after each single deletion (when samples have at most
  ``EXACT_DELETION_MAX`` spikes); a sample resists when none of the first k deletions fools
  it. The reference: exactly k spikes deleted at random (mean over random orders).

A sample counts as robust to a family of attacks ("any shift", "any deletion") when every
attack of the family leaves it correctly classified. The Yin-Yang bias spike is not attacked:
it fires at the same time for every sample, a part of the network rather than of the data.
"""
from __future__ import annotations

import math
from pathlib import Path

import torch

from ..files import write_csv, write_json
from .common import (REGIME_LABELS, REGIMES, StudyContext, fmt, load_for_analysis, mean_std, regime_config,
                     training_task)
from .report import image, md_table
from .runner import make_task, task_key

NAME = "attack"
TITLE = "Adversarial attacks on input spike times"

EPSILONS_FULL = [0.0, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]
EPSILONS_QUICK = [0.0, 0.02, 0.1]
DELETIONS_IMAGES = {"full": [0, 1, 2, 5, 10, 20, 50], "quick": [0, 1, 5]}
EXACT_DELETION_MAX = 32  # exact deletion effects: one forward pass per candidate spike
SHIFT_ATTACKS = ("fgsm", "pgd", "random_search", "any_shift")
DELETION_ATTACKS = ("gradient_deletion", "exact_deletion", "random_deletion", "any_deletion")
ATTACK_LABELS = {"fgsm": "FGSM", "pgd": "PGD", "random_search": "random search",
                 "any_shift": "any shift attack", "gradient_deletion": "gradient-guided",
                 "exact_deletion": "exact greedy", "random_deletion": "random",
                 "any_deletion": "any deletion attack"}


def settings(ctx: StudyContext) -> dict:
    quick = ctx.quick
    deletions = ctx.params.get("deletions")
    if deletions is None:
        deletions = [0, 1, 2, 3, 4] if ctx.dataset == "yinyang" else DELETIONS_IMAGES[ctx.scale]
    epsilons = [float(e) for e in (ctx.params.get("epsilons") or (EPSILONS_QUICK if quick else EPSILONS_FULL))]
    if 0.0 not in epsilons:
        epsilons = [0.0] + epsilons
    return {"epsilons": sorted(epsilons), "deletions": sorted({0, *[int(k) for k in deletions]}),
            "steps": int(ctx.params.get("attack_steps") or (5 if quick else 20)),
            "restarts": 1 if quick else 3, "draws": 5 if quick else 20, "deletion_orders": 2 if quick else 5,
            "seeds": list(range(ctx.n_seeds(2, 5))),
            "example_epsilon": sorted(epsilons)[len(epsilons) // 2] if len(epsilons) > 1 else 0.0}


def attackable_inputs(config, n_inputs: int) -> torch.Tensor:
    """Input neurons carrying data: all but the Yin-Yang bias input."""
    mask = torch.ones(n_inputs, dtype=torch.bool)
    if config.encoding == "yinyang" and config.bias_time is not None:
        mask[-1] = False
    return mask


def _spikes(out: torch.Tensor) -> list:
    """Finite spike times per neuron of one sample (n, slots)."""
    return [[float(t) for t in row if math.isfinite(t)] for row in out.tolist()]


def attack_task(checkpoint: str, epsilons: list, deletions: list, steps: int, restarts: int, draws: int,
                deletion_orders: int, example_epsilon: float, data_dir=None, test_size=None,
                seed: int = 0) -> dict:
    """Accuracy and mean loss of the network in ``checkpoint`` on its test set under every
    attack at every level, and one example sample attacked by PGD at ``example_epsilon``."""
    from .. import attacks as A

    net, config, data = load_for_analysis(checkpoint, data_dir, test_size)
    net.requires_grad_(False)
    loss_fn, rule = A.training_loss(config), config.prediction_rule
    lo, hi = config.input_window
    window_length = hi - lo
    attackable = attackable_inputs(config, data.n_inputs)
    x_all, y_all = data.x_test, data.y_test
    n = len(y_all)
    k_max = max(deletions)
    exact_ok = int(torch.isfinite(x_all[:, attackable]).sum((1, 2)).max()) <= EXACT_DELETION_MAX
    correct, loss_sum = {}, {}

    def record(attack, level, ok, losses):
        correct[(attack, level)] = correct.get((attack, level), 0.0) + float(ok.sum())
        loss_sum[(attack, level)] = loss_sum.get((attack, level), 0.0) + float(losses.sum())

    def evaluate(t, y):
        losses, pred = A.losses_and_predictions(net, t, y, loss_fn, rule)
        return pred == y, losses

    example = None
    for i in range(0, n, config.eval_batch_size):
        x, y = x_all[i:i + config.eval_batch_size], y_all[i:i + config.eval_batch_size]
        clean_ok, clean_loss = evaluate(x, y)
        for eps_rel in epsilons:
            eps = eps_rel * window_length
            if eps == 0:
                for attack in SHIFT_ATTACKS:
                    record(attack, eps_rel, clean_ok, clean_loss)
                continue
            common = dict(epsilon=eps, window=(lo, hi), attackable=attackable)
            adv = {"fgsm": A.fgsm(net, x, y, loss_fn, rule, **common),
                   "pgd": A.pgd(net, x, y, loss_fn, rule, steps=steps, restarts=restarts, seed=seed, **common),
                   "random_search": A.random_search(net, x, y, loss_fn, rule, draws=draws, seed=seed, **common)}
            every = torch.ones_like(clean_ok)
            for attack, t in adv.items():
                ok, losses = evaluate(t, y)
                record(attack, eps_rel, ok, losses)
                every &= ok
            record("any_shift", eps_rel, every, torch.full((len(y),), math.nan))
            if example is None and eps_rel == example_epsilon:
                example = _example(net, x, y, adv["pgd"], clean_ok, loss_fn, rule, i)
        sequences = {"gradient_deletion": A.delete_by_gradient(net, x, y, loss_fn, k_max, attackable=attackable)}
        if exact_ok:
            sequences["exact_deletion"] = A.delete_by_exact_effect(net, x, y, loss_fn, k_max, attackable=attackable)
        random_orders = [A.delete_at_random(x, k_max, attackable=attackable, seed=seed * 1000 + r)
                         for r in range(deletion_orders)]
        robust = {attack: torch.ones_like(clean_ok) for attack in sequences}  # at most k deletions
        for k in range(k_max + 1):
            for attack, seq in sequences.items():
                ok, losses = evaluate(seq[k], y)
                robust[attack] &= ok
                if k in deletions:
                    record(attack, k, robust[attack], losses)
            if k not in deletions:
                continue
            every = torch.stack(list(robust.values())).all(0)
            record("any_deletion", k, every, torch.full((len(y),), math.nan))
            for seq in random_orders:  # exactly k random deletions, the mean over the orders
                ok, losses = evaluate(seq[k], y)
                record("random_deletion", k, ok.to(torch.float64) / len(random_orders), losses / len(random_orders))

    rows = []
    for (attack, level), c in correct.items():
        shift = attack in SHIFT_ATTACKS
        rows.append({"attack": attack, "kind": "shift" if shift else "deletion", "level": level,
                     "absolute_level": level * window_length if shift else level,
                     "accuracy": c / n, "mean_loss": loss_sum[(attack, level)] / n})
    return {"rows": rows, "window": [lo, hi], "attackable": attackable, "exact_deletion": exact_ok,
            "rule": rule, "loss": config.loss, "example": example, "n_test": n}


def _example(net, x, y, x_adv, clean_ok, loss_fn, rule, offset) -> dict:
    """The first correctly classified sample that PGD fools (else the one whose loss PGD
    raises most): its input and output spike times, clean and attacked."""
    from ..attacks import losses_and_predictions

    adv_loss, adv_pred = losses_and_predictions(net, x_adv, y, loss_fn, rule)
    clean_loss, clean_pred = losses_and_predictions(net, x, y, loss_fn, rule)
    fooled = (clean_ok & (adv_pred != y)).nonzero().flatten()
    j = int(fooled[0]) if len(fooled) else int((adv_loss - clean_loss).argmax())
    with torch.no_grad():
        out_clean, out_adv = net(x[j:j + 1])[0], net(x_adv[j:j + 1])[0]
    return {"index": offset + j, "label": int(y[j]), "pred_clean": int(clean_pred[j]),
            "pred_attacked": int(adv_pred[j]), "loss_clean": float(clean_loss[j]),
            "loss_attacked": float(adv_loss[j]), "inputs_clean": _spikes(x[j]),
            "inputs_attacked": _spikes(x_adv[j]), "outputs_clean": _spikes(out_clean),
            "outputs_attacked": _spikes(out_adv), "fooled": bool(len(fooled))}


def _networks(ctx):
    """(training tasks, {(regime, seed label): {"checkpoint", "stamp"}})."""
    if "attack_networks" in ctx.cache:
        return ctx.cache["attack_networks"]
    s = settings(ctx)
    kind = ctx.params.get("analyse", "last")
    train, nets = [], {}
    for regime in REGIMES:
        if regime in ctx.checkpoints:
            path = Path(ctx.checkpoints[regime]).absolute()
            st = path.stat()
            nets[(regime, "given")] = {"checkpoint": str(path), "stamp": f"{st.st_size}-{st.st_mtime_ns}"}
            continue
        for seed in s["seeds"]:
            task = training_task(ctx, regime_config(ctx, regime, seed))
            train.append(task)
            nets[(regime, seed)] = {"checkpoint": str(Path(task["result"]).parent / f"{kind}.pt"), "stamp": None}
    ctx.cache["attack_networks"] = (train, nets)
    return train, nets


def _tasks(ctx):
    train, nets = _networks(ctx)
    s = settings(ctx)
    tasks = {}
    for (regime, seed), src in nets.items():
        kwargs = {"checkpoint": src["checkpoint"], "epsilons": s["epsilons"], "deletions": s["deletions"],
                  "steps": s["steps"], "restarts": s["restarts"], "draws": s["draws"],
                  "deletion_orders": s["deletion_orders"], "example_epsilon": s["example_epsilon"],
                  "data_dir": ctx.data_dir, "test_size": ctx.params.get("test_size")}
        key = f"attack-{regime}-{seed}-{task_key(kwargs, src['stamp'])}"
        tasks[(regime, seed)] = make_task(attack_task, kwargs, ctx.out / NAME / "results" / f"{key}.json", key=key)
    return train, tasks


def plan(ctx: StudyContext) -> list:
    train, tasks = _tasks(ctx)
    return [train, list(tasks.values())]


def _aggregate(run_rows: list) -> list:
    groups = {}
    for r in run_rows:
        groups.setdefault((r["regime"], r["attack"], r["level"]), []).append(r)
    agg = []
    for (regime, attack, level), rows in groups.items():
        m, sd = mean_std(r["accuracy"] for r in rows)
        lm, _ = mean_std(r["mean_loss"] for r in rows)
        drop_m, drop_sd = mean_std(r["clean_accuracy"] - r["accuracy"] for r in rows)
        agg.append({"regime": regime, "attack": attack, "kind": rows[0]["kind"], "level": level,
                    "absolute_level": rows[0]["absolute_level"], "mean": m, "std": sd, "drop_mean": drop_m,
                    "drop_std": drop_sd, "mean_loss": lm, "n_networks": len(rows),
                    "accuracies": " ".join(f"{r['accuracy']:.4f}" for r in rows)})
    return agg


def half_accuracy_level(levels, accuracies):
    """The level at which the accuracy first falls to half its value at level 0, linearly
    interpolated between grid points; None if it never does on the grid."""
    pairs = sorted(zip(levels, accuracies))
    half = pairs[0][1] / 2
    for (l0, a0), (l1, a1) in zip(pairs, pairs[1:]):
        if a1 <= half:
            return l1 if a0 == a1 else l0 + (l1 - l0) * (a0 - half) / (a0 - a1)
    return None


def _half_levels(run_rows, attack) -> dict:
    """{regime: [half-accuracy level of each network]} for ``attack``."""
    out = {}
    for regime in REGIMES:
        nets = sorted({r["network"] for r in run_rows if r["regime"] == regime}, key=str)
        for net in nets:
            rows = [r for r in run_rows if r["regime"] == regime and r["network"] == net and r["attack"] == attack]
            out.setdefault(regime, []).append(half_accuracy_level([r["level"] for r in rows],
                                                                  [r["accuracy"] for r in rows]))
    return out


def _half_text(halves, what, top) -> str:
    parts = []
    for regime in REGIMES:
        values = halves.get(regime, [])
        reached = [v for v in values if v is not None]
        m, sd = mean_std(reached)
        text = f"{fmt(m, 3)} ± {fmt(sd, 2)}" if reached else f"> {top:g}"
        if reached and len(reached) < len(values):
            text += f" ({len(reached)} of {len(values)} networks; the others > {top:g})"
        parts.append(f"{REGIME_LABELS[regime]} {text}")
    return f"{what}: " + ", ".join(parts)


def _verdict(agg, attack, levels) -> tuple:
    """Per level > 0, which regime loses less accuracy to ``attack`` (beyond the seed spread)."""
    better = {"multispike": [], "ttfs": [], "same": []}
    for level in levels:
        if level == 0:
            continue
        cells = {r["regime"]: r for r in agg if r["attack"] == attack and r["level"] == level}
        if set(cells) != set(REGIMES) or any(math.isnan(c["drop_mean"]) for c in cells.values()):
            continue
        t, m = cells["ttfs"], cells["multispike"]
        margin = max(0.005, (t["drop_std"] or 0) + (m["drop_std"] or 0))
        if abs(t["drop_mean"] - m["drop_mean"]) <= margin:
            better["same"].append(level)
        else:
            better["multispike" if m["drop_mean"] < t["drop_mean"] else "ttfs"].append(level)
    return better


def _verdict_text(better, what) -> str:
    parts = []
    if better["multispike"]:
        parts.append(f"multi-spike loses less at {what} {', '.join(f'{v:g}' for v in better['multispike'])}")
    if better["ttfs"]:
        parts.append(f"TTFS loses less at {what} {', '.join(f'{v:g}' for v in better['ttfs'])}")
    if better["same"]:
        parts.append(f"within the seed spread at {what} {', '.join(f'{v:g}' for v in better['same'])}")
    return "; ".join(parts) if parts else "no comparison"


def network_rows(ctx: StudyContext, results: dict) -> list:
    """One row per (regime, network, attack, level): accuracy under attack, the network's
    clean accuracy and the mean loss."""
    _, tasks = _tasks(ctx)
    rows = []
    for (regime, seed), task in tasks.items():
        res = results[task["key"]]
        clean = next(r["accuracy"] for r in res["rows"] if r["attack"] == "pgd" and r["level"] == 0)
        rows += [{"regime": regime, "network": seed, **r, "clean_accuracy": clean} for r in res["rows"]]
    return sorted(rows, key=lambda r: (r["regime"], str(r["network"]), r["kind"], r["attack"], r["level"]))


def accuracy_drops(rows: list, attack: str, level) -> dict:
    """{regime: [per-network drop from the clean accuracy to the accuracy under ``attack`` at
    ``level``]}."""
    return {regime: [r["clean_accuracy"] - r["accuracy"] for r in rows
                     if r["regime"] == regime and r["attack"] == attack and r["level"] == level]
            for regime in REGIMES}


def claim_levels(ctx: StudyContext) -> dict:
    """The levels at which the claims experiment compares the regimes: the middle shift bound
    of the grid and the smallest positive number of deletions."""
    s = settings(ctx)
    return {"any_shift": s["example_epsilon"], "any_deletion": min((k for k in s["deletions"] if k > 0), default=0)}


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    _, tasks = _tasks(ctx)
    out = ctx.experiment_dir(NAME)
    run_rows = network_rows(ctx, results)
    examples, exact = {}, True
    for (regime, seed), task in tasks.items():
        res = results[task["key"]]
        exact &= bool(res["exact_deletion"])
        if res["example"] is not None and regime not in examples:
            examples[regime] = {**res["example"], "network": seed, "window": res["window"]}
    write_csv(out / "attack_runs.csv", run_rows,
              ["regime", "network", "kind", "attack", "level", "absolute_level", "accuracy", "clean_accuracy",
               "mean_loss"])
    agg = sorted(_aggregate(run_rows), key=lambda r: (r["regime"], r["kind"], r["attack"], r["level"]))
    write_csv(out / "attack.csv", agg)
    halves = {"shift": _half_levels(run_rows, "any_shift"), "deletion": _half_levels(run_rows, "any_deletion")}
    shift_verdict = _verdict(agg, "any_shift", s["epsilons"])
    deletion_verdict = _verdict(agg, "any_deletion", s["deletions"])
    write_json(out / "attack_summary.json", {"settings": s, "rows": agg, "examples": examples,
                                             "verdict": {"shift": shift_verdict, "deletion": deletion_verdict},
                                             "half_accuracy_level": halves},
               indent=1)
    from .plots import attack_curves, attack_example
    png = attack_curves(out / "attack_curves.png", agg, REGIME_LABELS, ATTACK_LABELS)
    example_png = attack_example(out / "attack_example.png", examples, REGIME_LABELS) if examples else None

    def cell(regime, attack, level):
        r = next((x for x in agg if x["regime"] == regime and x["attack"] == attack and x["level"] == level), None)
        return "–" if r is None else f"{fmt(r['mean'], 4, True)} ± {fmt(r['std'], 3, True)}"

    def table(attacks, levels, name):
        header = [name] + [f"{REGIME_LABELS[g]}: {ATTACK_LABELS[a]}" for g in REGIMES for a in attacks]
        return md_table(header, [[f"{lv:g}"] + [cell(g, a, lv) for g in REGIMES for a in attacks] for lv in levels])

    n_nets = {g: sum(1 for (regime, _) in tasks if regime == g) for g in REGIMES}
    deletion_attacks = ["gradient_deletion", "exact_deletion", "random_deletion"] if exact else \
        ["gradient_deletion", "random_deletion"]
    text = [f"## {TITLE}", "",
            f"**Run.** White-box attacks on the test inputs of {n_nets['ttfs']} TTFS and "
            f"{n_nets['multispike']} multi-spike networks (accuracy mean ± std over the networks), each "
            "maximising the network's own training loss (TTFS: cross-entropy on first spike times; "
            "multi-spike: the spike-count loss through its training gradient) with the exact gradients "
            "with respect to the input spike times (`multispike.attacks`). *Shifts*: every data spike "
            "moves by at most ε (given as a fraction of the coding window) and stays in the window; "
            f"FGSM, PGD ({s['steps']} sign steps of 2.5ε/{s['steps']}, {s['restarts']} random start(s)) "
            f"and, gradient-free, the best of {s['draws']} uniform draws from the same ball. *Deletions*: "
            "up to k data spikes removed, one after the other, chosen by the first-order estimate "
            "dL/dt_j·(t_max − t_j) (moving a spike to the first layer's t_max deletes it exactly)"
            + (" or by the exact loss after each single deletion" if exact else "")
            + f"; the reference deletes exactly k at random (mean over {s['deletion_orders']} orders). An "
            "attack keeps, per sample, the first misclassified input it finds; 'any' counts a sample as "
            "robust only if every attack of the family fails on it. The Yin-Yang bias spike is not "
            "attacked.", "",
            table(["pgd", "fgsm", "random_search", "any_shift"], s["epsilons"], "ε / window"), "",
            table(deletion_attacks + ["any_deletion"], s["deletions"], "k deleted"), "",
            f"**Shows.** Accuracy lost to the strongest attack, compared with the spread over seeds: "
            f"shifts: {_verdict_text(shift_verdict, 'ε')}; deletions: "
            f"{_verdict_text(deletion_verdict, 'k')}. Where the accuracy under attack falls to half the "
            f"clean accuracy (mean ± std over the networks, interpolated on the grid): "
            f"{_half_text(halves['shift'], 'ε / window', s['epsilons'][-1])}; "
            f"{_half_text(halves['deletion'], 'spikes deleted', s['deletions'][-1])}.", "",
            image(png, ctx.out, "accuracy under attack")]
    if example_png is not None:
        ex = "; ".join(f"{REGIME_LABELS[g]}: test sample {e['index']}, label {e['label']}, predicted "
                       f"{e['pred_clean']} → {e['pred_attacked']}" for g, e in examples.items())
        text += ["", f"Example, PGD at ε = {s['example_epsilon']:g} of the window ({ex}):", "",
                 image(example_png, ctx.out, "an attacked sample")]
    text += ["", "Files: `attack/attack.csv` (per regime, attack and level over the networks), "
             "`attack/attack_runs.csv` (per network), `attack/attack_summary.json`."]
    return "\n".join(text)
