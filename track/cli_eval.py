"""``atom-jax eval``: run a tracker over a dataset into a results folder (resumable), then score it.

Example (the README's table)::

    atom-jax eval --dataset generic --root ../shared/data/sequences --tracker csrt --results results/csrt
"""

from __future__ import annotations

import pathlib
import sys

from atom_jax.errors import InputError
from track import baselines, cli_common, results, runner, scoring


def add_arguments(parser) -> None:
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--tracker", default="atom", choices=baselines.TRACKER_NAMES,
                        help="atom (needs --weights) or an OpenCV baseline: csrt, kcf, mil; static: initial box")
    parser.add_argument("--weights", default=None, help="ATOM weights (.npz, or a pytracking .pth)")
    parser.add_argument("--results", required=True, type=pathlib.Path,
                        help="results folder (<seq>.txt per sequence; run_NNN/ subfolders when --runs > 1)")
    parser.add_argument("--runs", type=int, default=1, help="runs with seeds seed..seed+K-1 (paper: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run")
    parser.add_argument("--batch", type=int, default=1, help="sequences tracked in lockstep (vmapped ATOM)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="tracker setting override (repeatable), e.g. --set num_init_random_samples=0")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-score", action="store_true", help="do not print the metrics afterwards")
    parser.add_argument("--eao-range", default="100,356", metavar="LOW,HIGH",
                        help="sequence lengths averaged by EAO (reset protocol; VOT2018: 100,356)")
    parser.add_argument("--protocol", choices=("ope", "reset"), default="ope",
                        help="ope: one pass from the first frame (default); reset: VOT's reset-based protocol "
                             "(re-initialise 5 frames after a failure; accuracy, robustness, EAO)")
    parser.add_argument("--pack", choices=("got10k", "trackingnet"), default=None,
                        help="also write the submission zip for GOT-10k test / TrackingNet")


def run(args) -> int:
    sequences = cli_common.load_from_args(args)
    overrides = runner.parse_overrides(args.overrides)
    if args.tracker == "atom" and not args.weights:
        raise InputError("--tracker atom needs --weights")
    if args.protocol == "reset":
        return _run_reset(args, sequences, overrides)
    report = runner.evaluate(sequences, args.tracker, args.results, weights=args.weights, overrides=overrides,
                             runs=args.runs, batch=args.batch, seed=args.seed, progress=not args.no_progress)
    print(f"tracked {len(report.finished)}, already done {len(report.skipped)}, failed {len(report.failed)}"
          f" -> {args.results}")
    for line in report.failed:
        print(f"  failed: {line}", file=sys.stderr)
    if args.pack:
        pack = results.pack_got10k if args.pack == "got10k" else results.pack_trackingnet
        print(f"wrote {pack(args.results, args.results.with_name(args.results.name + '_' + args.pack), sequences)}")
    if not args.no_score and scoring.scorable(sequences) and not report.failed:
        summary = scoring.score_results(sequences, args.results)
        rows = {f"{args.tracker} {r}": s for r, s in zip(summary["runs"], summary["per_run"])} \
            if args.runs > 1 else {}
        rows[args.tracker if args.runs == 1 else f"{args.tracker} mean of {args.runs}"] = summary["overall"]
        print(scoring.format_table(rows, first="tracker"))
    return 1 if report.failed else 0


def _run_reset(args, sequences, overrides) -> int:
    from track import runner_reset

    counts = runner_reset.evaluate_reset(sequences, args.tracker, args.results, weights=args.weights,
                                         overrides=overrides, runs=args.runs, seed=args.seed,
                                         progress=not args.no_progress)
    print(f"tracked {counts['finished']}, already done {counts['skipped']} -> {args.results}")
    if not args.no_score:
        eao_range = runner_reset.parse_range(args.eao_range)
        print(runner_reset.format_summary(runner_reset.score_reset(sequences, args.results, eao_range)))
    return 0
