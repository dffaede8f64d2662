"""Score results folders against a dataset: per run, and merged over runs as pytracking merges them.

Several runs (seeds) of one tracker are merged like pytracking's ``merge_multiple_runs``: the per-sequence
curves are averaged over the runs, then over sequences. The spread over runs is reported as the standard
deviation of each run's overall number.
"""

from __future__ import annotations

import pathlib

import numpy as np

from atom_jax.errors import InputError
from track import metrics, results

SCORED_KEYS = ("AUC", "OP50", "OP75", "Precision", "NormPrecision", "NormPrecisionAUC", "AO")


def scorable(sequences) -> list:
    """Sequences with ground truth beyond the first frame (GOT-10k/TrackingNet test have none)."""
    return [s for s in sequences if np.isfinite(s.ground_truth_xywh[1:]).any()]


def score_run(sequences, folder, skip_missing: bool = False) -> dict[str, metrics.SequenceCurves]:
    out = {}
    for seq in sequences:
        path = results.boxes_path(folder, seq.name)
        if not path.is_file():
            if skip_missing:
                continue
            raise InputError(f"{path}: result not found (score with --skip-missing to leave it out)")
        out[seq.name] = metrics.score_sequence(results.read_boxes(folder, seq.name), seq, source=str(path))
    return out


def score_results(sequences, results_dir, skip_missing: bool = False) -> dict:
    """Summary of a results folder (single run or ``*_NNN`` run folders): merged numbers, per-run numbers."""
    seqs = scorable(sequences)
    if not seqs:
        raise InputError("these sequences have no ground truth beyond frame 1 (a test split): nothing to score")
    runs = results.run_folders(results_dir)
    per_run = [score_run(seqs, run, skip_missing) for run in runs]
    names = [s.name for s in seqs if all(s.name in r for r in per_run)]
    if not names:
        raise InputError(f"{results_dir}: no sequence has results in every run")
    merged = {n: metrics.mean_curves([r[n] for r in per_run]) for n in names}
    summary = metrics.summarize(merged)
    summary["results"] = str(results_dir)
    summary["runs"] = [str(pathlib.Path(r).name) for r in runs]
    run_scalars = [metrics.scalars(metrics.mean_curves([r[n] for n in names])) for r in per_run]
    summary["per_run"] = run_scalars
    summary["std_over_runs"] = {k: float(np.std([s[k] for s in run_scalars])) for k in SCORED_KEYS}
    summary["missing"] = [s.name for s in seqs if s.name not in names]
    return summary


def format_table(rows: dict[str, dict[str, float]], keys=SCORED_KEYS, first: str = "") -> str:
    """A plain-text table: one row per name, one column per key (numbers with 2 decimals)."""
    width = max([len(first)] + [len(n) for n in rows]) + 2
    head = first.ljust(width) + "".join(k.rjust(max(len(k), 6) + 2) for k in keys)
    lines = [head, "-" * len(head)]
    for name, vals in rows.items():
        cells = "".join(("%.2f" % vals[k] if k in vals and vals[k] == vals[k] else "-").rjust(max(len(k), 6) + 2)
                        for k in keys)
        lines.append(name.ljust(width) + cells)
    return "\n".join(lines)


def format_markdown(rows: dict[str, dict[str, float]], keys=SCORED_KEYS, first: str = "") -> str:
    lines = ["| " + " | ".join([first] + list(keys)) + " |", "|" + "---|" * (len(keys) + 1)]
    for name, vals in rows.items():
        lines.append("| " + " | ".join([name] + ["%.1f" % vals[k] for k in keys]) + " |")
    return "\n".join(lines)
