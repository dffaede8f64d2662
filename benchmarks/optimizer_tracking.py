"""How does tracking depend on the online optimizer and its budget? (the paper's Table 2 GD / GD++ / GN-CG
rows, extended with optax's L-BFGS and Adam). Each (optimizer, budget) tracks the validation sequences held
out of training (``train.configs.lite0.VAL_NAMES`` of the training folder), ``--runs`` seeds each, and is
scored by success AUC (mean over sequences, then mean and spread over runs).

    python benchmarks/optimizer_tracking.py --root ../shared/data/train \
        --optimizers gn_cg,gd,gd_pp,lbfgs,adam --budgets 0.4,1 --runs 3 --max-frames 80

A budget scales pytracking's: ``CG_iter`` = ``hard_negative_CG_iter`` = round(5 b) per update and
round(10 b) CG per Gauss-Newton iteration on the first frame (6 of them). GD, L-BFGS and Adam get the same
number of iterations as GN-CG has backprops (``gd_iter_factor`` 2); GD++ five times as many (10). Results
folders (resumable) go under ``--results``; the table to ``benchmarks/results/optimizer_tracking.json`` and
the plot to ``optimizer_tracking.png``. ``--max-frames`` keeps the first frames of each sequence (a reduced
study on a shared CPU).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pathlib
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
RESULTS = REPO / "benchmarks" / "results"

# Label -> tracker settings (a budget adds the CG iteration counts).
OPTIMIZERS = {
    "gn_cg": {"optimizer": "GaussNewtonCG"},
    # GD's step: the best of bench_optimizer's grid on most Lite0 first-frame problems (the config's 3e-6 was
    # tuned on ResNet-18 features); updates would want 1e-4 with momentum 0.95, one value serves both here.
    "gd": {"optimizer": "GradientDescentL2", "gd_iter_factor": 2, "optimizer_step_length": 1e-5,
           "optimizer_momentum": 0.9},
    "gd_pp": {"optimizer": "GradientDescentL2", "gd_iter_factor": 10, "optimizer_step_length": 1e-5,
              "optimizer_momentum": 0.9},
    "lbfgs": {"optimizer": "optax:lbfgs", "gd_iter_factor": 2},
    "adam": {"optimizer": "optax:adam", "gd_iter_factor": 2},
}


def budget_settings(budget: float) -> dict:
    per_update = max(1, round(5 * budget))
    per_gn = max(1, round(10 * budget))
    return {"CG_iter": per_update, "hard_negative_CG_iter": per_update, "init_GN_iter": 6,
            "init_CG_iter": 6 * per_gn}


def truncated(seq, max_frames: int | None):
    if not max_frames or len(seq) <= max_frames:
        return seq
    vis = None if seq.target_visible is None else seq.target_visible[:max_frames]
    return dataclasses.replace(seq, frames=seq.frames[:max_frames], ground_truth_xywh=seq.ground_truth_xywh[:max_frames],
                               target_visible=vis)


def plot(rows: dict, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name in OPTIMIZERS:
        pts = sorted((r["budget"], r["auc_mean"], r["auc_std"]) for r in rows.values() if r["optimizer"] == name)
        if pts:
            b, m, s = map(np.asarray, zip(*pts))
            ax.errorbar(b, m, yerr=s, marker="o", capsize=3, label=name)
    ax.set_xlabel("budget (x pytracking's: 5 CG per update, 6 x 10 at the first frame)")
    ax.set_ylabel("success AUC (%)")
    ax.set_xscale("log")
    ax.legend(fontsize=8)
    ax.set_title("tracking vs online optimizer (mean +- std over runs)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    from atom_jax.data.registry import load_dataset
    from track import runner, scoring
    from train.configs.lite0 import VAL_NAMES

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True, help="the training folder (generic layout)")
    ap.add_argument("--weights", default=None, help="weights file or built-in name (default: the built-in ones)")
    ap.add_argument("--sequences", default=",".join(VAL_NAMES), help="comma-separated sequence names")
    ap.add_argument("--max-frames", type=int, default=None, help="keep the first N frames of each sequence")
    ap.add_argument("--optimizers", default=",".join(OPTIMIZERS), help=f"subset of {','.join(OPTIMIZERS)}")
    ap.add_argument("--budgets", default="1", help="comma-separated budget scales, e.g. 0.4,1,2")
    ap.add_argument("--runs", type=int, default=3, help="seeds per (optimizer, budget)")
    ap.add_argument("--results", default=str(RESULTS / "optimizer_tracking"), help="results folders (resumable)")
    ap.add_argument("--out", default=str(RESULTS / "optimizer_tracking.json"))
    args = ap.parse_args(argv)

    names = [n for n in args.optimizers.split(",") if n]
    unknown = [n for n in names if n not in OPTIMIZERS]
    if unknown:
        raise SystemExit(f"unknown optimizer(s) {unknown}; choose from {list(OPTIMIZERS)}")
    budgets = [float(b) for b in args.budgets.split(",")]
    sequences = [truncated(s, args.max_frames) for s in load_dataset("generic", args.root, args.sequences.split(","))]
    rows = {}
    for budget in budgets:
        for name in names:
            label = f"{name}_b{budget:g}"
            overrides = {**OPTIMIZERS[name], **budget_settings(budget)}
            folder = pathlib.Path(args.results) / f"{label}_f{args.max_frames or 'all'}"
            t0 = time.perf_counter()
            report = runner.evaluate(sequences, "atom", folder, weights=args.weights, overrides=overrides,
                                     runs=args.runs, progress=False)
            if report.failed:
                print(f"{label}: failed: {report.failed}", flush=True)
                continue
            summary = scoring.score_results(sequences, folder)
            per_run = [r["AUC"] for r in summary["per_run"]] if args.runs > 1 else [summary["overall"]["AUC"]]
            rows[label] = {"optimizer": name, "budget": budget, "overrides": overrides, "auc_runs": per_run,
                           "auc_mean": float(np.mean(per_run)), "auc_std": float(np.std(per_run)),
                           "seconds": time.perf_counter() - t0}
            print(f"{label:16s} AUC {rows[label]['auc_mean']:5.1f} +- {rows[label]['auc_std']:4.1f}  runs "
                  f"{', '.join(f'{a:.1f}' for a in per_run)}  ({rows[label]['seconds']:.0f} s)", flush=True)
            write(args, argv, sequences, rows)  # after each row: a stopped study keeps what it has
    out = write(args, argv, sequences, rows)
    print(f"wrote {out} and {out.with_suffix('.png')}")
    return 0


def write(args, argv, sequences, rows) -> pathlib.Path:
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    info = {"sequences": [s.name for s in sequences], "frames": {s.name: len(s) for s in sequences},
            "max_frames": args.max_frames, "runs": args.runs, "weights": args.weights or "built-in", "rows": rows,
            "command": "python benchmarks/optimizer_tracking.py " + " ".join(argv or sys.argv[1:])}
    out.write_text(json.dumps(info, indent=1))
    plot(rows, out.with_suffix(".png"))
    return out


if __name__ == "__main__":
    raise SystemExit(main())
