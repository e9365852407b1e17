"""Experiment 2, spike budget: accuracy against energy and latency (Pareto fronts).

Every configuration of the sweep is trained to make a decision, and one that still makes
none is reported as failed instead of as an accuracy of 0 %.

Configurations. The multi-spike preset's network is trained with K spike slots per neuron
in every layer, for each K of the sweep and each hidden threshold (the preset's times a
factor); the TTFS preset is trained at the same hidden-threshold factors as the reference.

* K = 1 is the single-spike regime: cross-entropy on the first spike times with the
  silent-label term (:func:`multispike.losses.silent_label_loss`, weight
  :data:`SILENT_LABEL_PENALTY`), and the first output spike decides. Its temperature is the
  TTFS preset's tau_loss in units of the synaptic time constant
  (tau_loss = tau_loss_TTFS * tau_s / tau_s_TTFS).
* K >= 2: the spike-count loss with the targets of :func:`targets_for`: K spikes for the
  label neuron (every slot) and floor(2K/15) for the others (the Yin-Yang preset's 4 at
  K = 30; 0 for K < 8), plus the same silent-label term. A label target of K means the
  count error never asks the label neuron for fewer spikes, so the loss itself never pushes
  it towards silence; a neuron that does not fire receives no error from the spike-count
  loss, so a label neuron that fell silent anyway (through the shared hidden layer) would
  stay silent: the term raises its peak membrane potential towards the threshold (its mean
  potential while the potential is nowhere positive) until it fires, from where the count
  error takes over. Both targets are reachable.
* Initialisation: every layer after the first draws its weights from the preset's
  distribution scaled (mean and spread alike) by s = S_ref / S, where S is the number of
  spikes per sample that feed the layer at initialisation (measured on the first
  :data:`CALIBRATION_SAMPLES` training samples) and S_ref the same number in the unchanged
  preset network. The layer then starts with the input drive the preset was tuned for: the
  Yin-Yang preset's small output weights make every output fire at initialisation, which
  fewer hidden slots (less drive) would undo and a lower hidden threshold (more drive) would
  turn into saturated outputs whose large count errors silence them all in the first epoch.
  s is clipped to [1/10, 10] (s = 10 when the feeding layer is silent at initialisation).

Decisions. A trained run *fails* when the validation accuracy of its final network is not
above chance (1 / classes) by :data:`DECISION_MARGIN`, or when its output neurons stay
silent (no decision) on more than half of the validation samples (:func:`failure_reason`).
A configuration fails when any of its seeds fails; it appears in the table as
"failed (reason)", is counted in the text, and is neither plotted nor placed on a Pareto
front. For the others the table gives the final epoch's test accuracy with the validation
accuracy beside it (means over seeds); the test set chooses nothing.

Each configuration that decides is one point: test accuracy against spikes per sample and
against the mean decision time of correct predictions; the Pareto front marks the points no
other one beats on both axes. The report compares the multi-spike configurations (K >= 2)
that use at most :data:`SIMILAR_RATIO` times the spikes of the TTFS reference (the one with
the best validation accuracy) with it; the most accurate of them on validation is said to
reach the TTFS accuracy when its test accuracy is no more than max(1 point, the reference's
standard deviation over seeds) below the reference's.
"""
from __future__ import annotations

import dataclasses
import math

from ..files import write_csv, write_json
from .common import (REGIME_LABELS, StudyContext, fmt, mean_std, pareto_front, regime_config,
                     run_name, training_tasks)
from .report import image, md_table
from .runner import make_task
from .stats import SIMILAR_RATIO

__all__ = ["settings", "targets_for", "scaled_init", "input_spikes_at_init", "matched_init",
           "failure_reason", "configuration_status",
           "validation_check", "plan", "summarize", "DECISION_MARGIN", "SILENT_LABEL_PENALTY",
           "CALIBRATION_SAMPLES"]

NAME = "budget"
TITLE = "Spike budget: accuracy vs energy and latency"

#: A run decides when its validation accuracy exceeds chance by this much.
DECISION_MARGIN = 0.1
#: ... and some output neuron fires on at least this share of the validation samples.
MIN_DECIDED_FRACTION = 0.5
#: Weight of the silent-label term in every multi-spike configuration of the sweep.
SILENT_LABEL_PENALTY = 1.0
#: Training samples on which the initial input drive of each layer is measured.
CALIBRATION_SAMPLES = 500
_SCALE_LIMIT = 10.0


def settings(ctx: StudyContext) -> dict:
    slots = ctx.params.get("slots") or ([1, 3, 10] if ctx.quick else [1, 2, 3, 5, 10, 30])
    factors = ctx.params.get("threshold_factors") or ([0.5, 1.0] if ctx.quick else [0.5, 1.0, 2.0])
    epochs = ctx.params.get("budget_epochs")
    return {"slots": [int(k) for k in slots], "threshold_factors": [float(f) for f in factors],
            "seeds": list(range(ctx.n_seeds(1, 2) if ctx.params.get("budget_seeds") is None
                                else int(ctx.params["budget_seeds"]))),
            "epochs": None if epochs is None else int(epochs)}


def targets_for(slots: int) -> tuple:
    """Spike-count targets (label, others) for K = ``slots`` >= 2 spike slots: K and
    floor(2K/15), both reachable."""
    if slots < 2:
        raise ValueError(f"spike-count targets need slots >= 2 (K = 1 is the single-spike regime), got {slots}")
    return float(slots), float(math.floor(2 * slots / 15))


def scaled_init(spec: str, scale: float) -> str:
    """The initialisation ``spec`` ('uniform:LOW:HIGH' or 'normal:MEAN:STD') of ``scale``
    times the weights it draws (with the same random numbers)."""
    from ..config import parse_init

    if not (scale > 0 and math.isfinite(scale)):
        raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
    kind, a, b = parse_init(spec)
    return f"{kind}:{a * scale:.6g}:{b * scale:.6g}"


def input_spikes_at_init(config, x) -> list:
    """Spikes per sample that feed each layer after the first, at initialisation of
    ``config``'s network (as :func:`multispike.train.train` builds it) on the samples ``x``."""
    import torch

    from ..checkpoint import build_network
    from ..presets import n_classes

    torch.manual_seed(config.seed)  # as train() does before building the network
    net = build_network(config, x.shape[1], n_classes(config.dataset))
    with torch.no_grad():
        outputs = net(x, all_layers=True)
    return [float(torch.isfinite(o).sum()) / len(x) for o in outputs[:-1]]


def matched_init(config, x, wanted: list) -> list:
    """``config.init`` with every layer after the first scaled so that its input spikes per
    sample at initialisation on the calibration samples ``x`` match ``wanted`` (those of the
    reference network, :func:`input_spikes_at_init`; see the module docstring)."""
    init = list(config.init)
    for layer in range(1, config.n_layers):
        have = input_spikes_at_init(dataclasses.replace(config, init=init), x)[layer - 1]
        scale = wanted[layer - 1] / have if have > 0 else _SCALE_LIMIT
        init[layer] = scaled_init(init[layer], min(max(scale, 1 / _SCALE_LIMIT), _SCALE_LIMIT))
    return init


def _calibration(ctx, reference) -> tuple:
    """(calibration samples, the reference network's input spikes per layer at init)."""
    from ..splits import load_data

    key = ("budget-calibration", run_name(reference))
    if key not in ctx.cache:
        x = load_data(reference).x_train[:CALIBRATION_SAMPLES]
        ctx.cache[key] = x, input_spikes_at_init(reference, x)
    return ctx.cache[key]


def _configs(ctx) -> dict:
    """{(slots or None for TTFS, factor, seed): config}."""
    if "budget-configs" in ctx.cache:
        return ctx.cache["budget-configs"]
    s = settings(ctx)
    extra = {} if s["epochs"] is None else {"epochs": s["epochs"]}
    configs = {}
    for factor in s["threshold_factors"]:
        for seed in s["seeds"]:
            base = regime_config(ctx, "multispike", seed, **extra)
            ttfs = regime_config(ctx, "ttfs", seed, **extra)
            x, wanted = _calibration(ctx, base)
            for k in s["slots"]:
                thresholds = [t * factor for t in base.thresholds[:-1]] + base.thresholds[-1:]
                if k == 1:
                    loss = {"loss": "ttfs", "tau_loss": ttfs.tau_loss * base.tau_s / ttfs.tau_s}
                else:
                    true, false = targets_for(k)
                    loss = {"loss": "spike_count", "target_true": true, "target_false": false}
                config = regime_config(
                    ctx, "multispike", seed, max_spikes=[k] * base.n_layers, thresholds=thresholds,
                    silent_label_penalty=SILENT_LABEL_PENALTY, name=f"budget-k{k}-f{factor:g}",
                    **loss, **extra)
                configs[(k, factor, seed)] = dataclasses.replace(config, init=matched_init(config, x, wanted))
            thresholds = [t * factor for t in ttfs.thresholds[:-1]] + ttfs.thresholds[-1:]
            # no new name: at factor 1 this is the accuracy experiment's run, trained once
            configs[(None, factor, seed)] = regime_config(ctx, "ttfs", seed, thresholds=thresholds, **extra)
    ctx.cache["budget-configs"] = configs
    return configs


def validation_check(checkpoint: str) -> dict:
    """Accuracy and share of decided samples (some output neuron fired) of a trained
    network on its validation split."""
    from ..metrics import tradeoff_metrics
    from ..checkpoint import load_trained
    from ..splits import load_data

    net, config = load_trained(checkpoint)
    net.eval()
    data = load_data(config)
    if len(data.y_val) == 0:
        raise ValueError(f"{checkpoint}: the run has no validation split (val_size = 0); the budget "
                         "sweep decides on validation samples")
    m = tradeoff_metrics(net, data.x_val, data.y_val, config.prediction_rule, config.eval_batch_size)
    return {"accuracy": m["accuracy"], "decided_fraction": m["decided_fraction"], "n_classes": data.n_classes}


def _check_tasks(ctx, configs) -> list:
    tasks = []
    for config in configs:
        run_dir = ctx.out / "runs" / run_name(config)
        checkpoint = str(run_dir / "last.pt")
        tasks.append(make_task(validation_check, {"checkpoint": checkpoint},
                               ctx.out / NAME / "checks" / f"{run_name(config)}.json",
                               key=f"budget-check-{run_name(config)}"))
    return tasks


def plan(ctx: StudyContext) -> list:
    configs = list(_configs(ctx).values())
    return [training_tasks(ctx, configs), _check_tasks(ctx, configs)]


def failure_reason(val_accuracy, decided_fraction, n_classes: int):
    """Why a trained network makes no real decision on the validation samples, or None
    when it does: accuracy not above chance + :data:`DECISION_MARGIN`, or no output spike
    on more than half of the samples."""
    chance = 1.0 / n_classes
    reasons = []
    if val_accuracy is None or not val_accuracy > chance + DECISION_MARGIN:
        reasons.append(f"validation accuracy {fmt(val_accuracy, 3, True)} not above chance "
                       f"{fmt(chance, 3, True)} + {100 * DECISION_MARGIN:g} points")
    if decided_fraction is None or decided_fraction < MIN_DECIDED_FRACTION:
        reasons.append(f"no output spike on {fmt(1 - (decided_fraction or 0.0), 3, True)} of validation samples")
    return "; ".join(reasons) or None


def configuration_status(rows: list) -> str | None:
    """The failure of a configuration from its runs' rows (``failure`` per row): None when
    every seed decides, else the reasons of the failed seeds."""
    failed = [r for r in rows if r["failure"]]
    if not failed:
        return None
    return "; ".join(f"seed {r['seed']}: {r['failure']}" for r in failed)


def _run_rows(ctx, results, configs) -> list:
    rows = []
    for (k, factor, seed), config in configs.items():
        res = results[run_name(config)]
        final, last = res["final"], res["history"][-1]
        check = results[_check_tasks(ctx, [config])[0]["key"]]
        rows.append({
            "loss": config.loss, "slots": k if k is not None else 1, "ttfs_reference": k is None,
            "hidden_threshold_factor": factor, "hidden_threshold": config.thresholds[0], "seed": seed,
            "target_true": config.target_true if config.loss == "spike_count" else None,
            "target_false": config.target_false if config.loss == "spike_count" else None,
            "init": " ".join(config.init), "epochs": len(res["history"]),
            "accuracy": final["accuracy"], "val_accuracy": last["val_accuracy"],
            "val_decided_fraction": check["decided_fraction"],
            "failure": failure_reason(check["accuracy"], check["decided_fraction"], check["n_classes"]),
            "total_spikes_per_sample": final["total_spikes_per_sample"],
            "total_synops_per_sample": final["total_synops_per_sample"],
            "mean_decision_time_correct": final["mean_decision_time_correct"],
            "median_decision_time_correct": final["median_decision_time_correct"],
            "hidden_silent_fraction": final["silent_fraction"][0],
            "hidden_saturated_fraction": final["saturated_fraction"][0],
            "hidden_full_slots_fraction": final["full_slots_fraction"][0],
            "output_silent_fraction": final["silent_fraction"][-1]})
    return rows


def _points(configs, run_rows) -> list:
    points = []
    for k, factor in dict.fromkeys((k, f) for (k, f, _seed) in configs):
        rows = [r for r in run_rows if r["hidden_threshold_factor"] == factor
                and (r["ttfs_reference"] if k is None else (not r["ttfs_reference"] and r["slots"] == k))]
        point = {"slots": k, "factor": factor, "label": {None: "TTFS preset", 1: "K=1 (TTFS loss)"}.get(k, f"K={k}"),
                 "hidden_threshold": rows[0]["hidden_threshold"], "n_seeds": len(rows),
                 "failure": configuration_status(rows)}
        for key, column in (("accuracy", "accuracy"), ("val_accuracy", "val_accuracy"),
                            ("spikes", "total_spikes_per_sample"), ("synops", "total_synops_per_sample"),
                            ("decision_time", "mean_decision_time_correct"),
                            ("hidden_silent_fraction", "hidden_silent_fraction"),
                            ("hidden_full_slots_fraction", "hidden_full_slots_fraction")):
            point[key], point[f"{key}_std"] = mean_std(r[column] for r in rows)
        points.append(point)
    deciding = [i for i, p in enumerate(points) if p["failure"] is None]
    for key, axis in (("pareto_energy", "spikes"), ("pareto_latency", "decision_time")):
        front = pareto_front([points[i][axis] for i in deciding], [points[i]["accuracy"] for i in deciding])
        on_front = {deciding[j] for j in front}
        for i, p in enumerate(points):
            p[key] = i in on_front
    return points


def _similar_spikes_text(points) -> str:
    """Answer: do multi-spike networks (K >= 2) reach the TTFS accuracy at similar spike counts?"""
    deciding = [p for p in points if p["failure"] is None]
    references = [p for p in deciding if p["slots"] is None]
    multi = [p for p in deciding if p["slots"] is not None and p["slots"] >= 2]
    if not references or not multi:
        return ("**Similar spike counts.** Not answered: " + ("no TTFS reference decides." if not references
                                                              else "no multi-spike configuration (K >= 2) decides."))
    ref = max(references, key=lambda p: p["val_accuracy"])  # chosen on validation
    near = [p for p in multi if p["spikes"] <= ref["spikes"] * SIMILAR_RATIO]  # similar or fewer
    head = (f"**Similar spike counts.** The TTFS reference with the best validation accuracy (hidden θ × "
            f"{ref['factor']:g}) reaches {fmt(ref['accuracy'], 4, True)} test accuracy with "
            f"{fmt(ref['spikes'], 4)} spikes per sample. ")
    if not near:
        cheapest = min(multi, key=lambda p: p["spikes"])
        return head + (f"No multi-spike configuration (K >= 2) that decides uses a similar number of spikes "
                       f"(at most {SIMILAR_RATIO:g} times as many) or fewer; the sparsest one, {cheapest['label']} at θ × "
                       f"{cheapest['factor']:g}, uses {fmt(cheapest['spikes'], 4)} and reaches "
                       f"{fmt(cheapest['accuracy'], 4, True)}, so the question is not answered at this budget.")
    best = max(near, key=lambda p: p["val_accuracy"])  # chosen on validation
    gap = best["accuracy"] - ref["accuracy"]
    verdict = "reaches" if gap >= -max(ref["accuracy_std"], 0.01) else "does not reach"
    return head + (f"Among the {len(near)} multi-spike configuration(s) with K >= 2 that use at most "
                   f"{SIMILAR_RATIO:g} times that spike count, the best on validation, {best['label']} at θ × "
                   f"{best['factor']:g} ({fmt(best['spikes'], 4)} spikes), reaches "
                   f"{fmt(best['accuracy'], 4, True)}: {100 * gap:+.2f} points, so at similar spike counts "
                   f"the multi-spike network **{verdict}** the TTFS accuracy (reaching = no more than "
                   f"max(1 point, the TTFS std over seeds) below it).")


def summarize(ctx: StudyContext, results: dict) -> str:
    s = settings(ctx)
    out = ctx.experiment_dir(NAME)
    configs = _configs(ctx)
    run_rows = _run_rows(ctx, results, configs)
    write_csv(out / "budget_runs.csv", run_rows)
    points = _points(configs, run_rows)
    write_csv(out / "budget_points.csv", points)
    deciding = [p for p in points if p["failure"] is None]
    front_cost, front_time = (sorted((i for i, p in enumerate(points) if p[flag]), key=lambda i: points[i][axis])
                              for flag, axis in (("pareto_energy", "spikes"), ("pareto_latency", "decision_time")))
    write_json(out / "budget_summary.json", {"settings": s, "points": points, "pareto_energy": front_cost,
                                             "pareto_latency": front_time}, indent=1)
    from .plots import pareto_plot
    plotted = [p for p in points if p["failure"] is None]
    png = pareto_plot(out / "budget_pareto.png", plotted, [plotted.index(points[i]) for i in front_cost],
                      [plotted.index(points[i]) for i in front_time], n_failed=len(points) - len(plotted))

    def accuracy_cell(p):
        if p["failure"] is not None:
            return f"failed ({p['failure']})"
        return f"{fmt(p['accuracy'], 4, True)} ± {fmt(p['accuracy_std'], 3, True)}"

    rows = [[p["label"], f"{p['factor']:g} ({fmt(p['hidden_threshold'], 3)})", accuracy_cell(p),
             fmt(p["val_accuracy"], 4, True), fmt(p["spikes"], 4), fmt(p["synops"], 4),
             fmt(p["decision_time"], 3), fmt(p["hidden_silent_fraction"], 3, True),
             fmt(p["hidden_full_slots_fraction"], 3, True),
             ("E" if p["pareto_energy"] else "") + ("L" if p["pareto_latency"] else "")]
            for p in points]
    n_failed = len(points) - len(deciding)
    text = [f"## {TITLE}", "",
            f"**Run.** The multi-spike preset's network with K spike slots per neuron in every layer, "
            f"K in {s['slots']}, hidden threshold × {s['threshold_factors']} of the preset's. K = 1 is "
            "trained in the single-spike regime (cross-entropy on first spike times, first spike decides); "
            "K >= 2 with spike-count targets K (label) and floor(2K/15) (others); both add the "
            f"silent-label term (weight {SILENT_LABEL_PENALTY:g}) that drives a silent label neuron's "
            "peak potential to the threshold (its mean potential while the potential is nowhere positive), "
            "and every layer after the first starts with the input "
            "drive of the preset network (its initial weights scaled by the ratio of input spikes). "
            f"The {REGIME_LABELS['ttfs']} preset at the same threshold factors is the reference. "
            f"{len(s['seeds'])} seed(s) each; values are means over seeds. Accuracy: test accuracy of "
            "the final epoch, validation accuracy beside it. A configuration fails when a seed's final "
            f"validation accuracy is not above chance + {100 * DECISION_MARGIN:g} points or its outputs "
            f"are silent on more than {100 * MIN_DECIDED_FRACTION:g} % of the validation samples; failed "
            "configurations are neither plotted nor on a Pareto front. Energy = spikes per test sample "
            "over all layers; latency = mean decision time of correct predictions.", "",
            md_table(["configuration", "hidden θ factor (θ)", "test accuracy", "validation accuracy",
                      "spikes / sample", "synaptic ops / sample", "mean decision time", "hidden silent",
                      "hidden slots full", "Pareto (E = energy, L = latency)"], rows), ""]
    shows = [f"**Shows.** {n_failed} of {len(points)} configurations failed to decide"
             + (": " + ", ".join(f"{p['label']} at θ × {p['factor']:g}" for p in points if p["failure"])
                if n_failed else "") + "."]
    if deciding:
        best = max(deciding, key=lambda p: p["val_accuracy"])
        shows.append(f"The best configuration on validation is {best['label']} at hidden threshold × "
                     f"{best['factor']:g} ({fmt(best['accuracy'], 4, True)} test, {fmt(best['spikes'], 4)} "
                     "spikes per sample).")
        for name, front, axis, unit in (("energy", front_cost, "spikes", "spikes"),
                                        ("latency", front_time, "decision_time", "time")):
            shows.append(f"The {name} Pareto front (each point more accurate than every one with lower "
                         f"{'spike count' if name == 'energy' else 'decision time'}) runs through "
                         + ", ".join(f"{points[i]['label']} (θ×{points[i]['factor']:g}: "
                                     f"{fmt(points[i][axis], 3)} {unit}, {fmt(points[i]['accuracy'], 3, True)})"
                                     for i in front) + ".")
    text += [" ".join(shows), "", _similar_spikes_text(points), "",
             image(png, ctx.out, "accuracy vs spikes and decision time"), "",
             "Files: `budget/budget_runs.csv` (per run, with each seed's failure reason), "
             "`budget/budget_points.csv` (per configuration, with Pareto flags), `budget/budget_summary.json`."]
    return "\n".join(text)
