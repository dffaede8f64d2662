"""Which tracker settings for given weights? Each candidate (a set of ``--set`` overrides) is tracked over the
validation sequences held out of training (``train.configs.lite0.VAL_NAMES`` of the training folder: never the
test sequences), scored, and tabled; the results folders make the run resumable.

    python benchmarks/tune_tracker.py --root ../shared/data/train --weights runs/lite0/weights.npz \
        --candidate default: --candidate multiscale:ablation=multiscale_no_iounet \
        --candidate sigma0.2:output_sigma_factor=0.2

A candidate is ``LABEL:name=value,name=value`` (empty after the colon: the weights' own settings). Prints a
table and writes ``benchmarks/results/tune_tracker.json``.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def parse_candidate(text: str) -> tuple[str, dict]:
    label, sep, rest = text.partition(":")
    if not sep or not label:
        raise SystemExit(f"--candidate expects LABEL:name=value,..., got {text!r}")
    overrides = {}
    for item in filter(None, rest.split(";" if ";" in rest else ",")):
        name, eq, value = item.partition("=")
        if not eq:
            raise SystemExit(f"--candidate {label}: expected name=value, got {item!r}")
        overrides[name.strip()] = value.strip()
    return label, overrides


def main(argv=None) -> int:
    from atom_jax.data.registry import load_dataset
    from track import runner, scoring
    from train.configs.lite0 import VAL_NAMES

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", required=True, help="the training folder (generic layout)")
    parser.add_argument("--weights", default=None, help="weights file or built-in name (default: demo)")
    parser.add_argument("--candidate", action="append", default=[], help="LABEL:name=value,... (repeatable)")
    parser.add_argument("--names", default=",".join(VAL_NAMES), help="validation sequences (comma separated)")
    parser.add_argument("--results", default=str(REPO / "benchmarks" / "results" / "tune_tracker"))
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1,
                        help="sequences tracked at once by the vmapped tracker (fewer compilations: one canvas)")
    parser.add_argument("--baselines", default="", help="other trackers to score alongside, e.g. csrt")
    args = parser.parse_args(argv)

    sequences = load_dataset("generic", args.root, args.names.split(","))
    candidates = [("atom", *parse_candidate(c)) for c in (args.candidate or ["default:"])]
    candidates += [(name, name, {}) for name in filter(None, args.baselines.split(","))]
    rows = {}
    for tracker, label, overrides in candidates:
        folder = pathlib.Path(args.results) / label
        t0 = time.perf_counter()
        report = runner.evaluate(sequences, tracker, folder, weights=args.weights if tracker == "atom" else None,
                                 overrides=overrides, runs=args.runs, batch=args.batch)
        if report.failed:
            print(f"{label}: failed: {report.failed}")
            continue
        summary = scoring.score_results(sequences, folder)
        rows[label] = {**summary["overall"], "overrides": overrides, "seconds": time.perf_counter() - t0}
        print(f"{label:24s} AUC {rows[label]['AUC']:5.1f}  OP50 {rows[label]['OP50']:5.1f}  "
              f"OP75 {rows[label]['OP75']:5.1f}  Prec {rows[label]['Precision']:5.1f}  ({rows[label]['seconds']:.0f} s)",
              flush=True)
    out = REPO / "benchmarks" / "results" / "tune_tracker.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"weights": args.weights, "sequences": [s.name for s in sequences], "rows": rows},
                              indent=1))
    print(scoring.format_table({k: {m: v for m, v in r.items() if m in scoring.SCORED_KEYS} for k, r in rows.items()}))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
