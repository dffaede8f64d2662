"""``atom-jax score``: success / precision metrics of a results folder in pytracking's text format.

Works on any folder of ``<sequence>.txt`` files (ours, pytracking's raw results, anyone's); run subfolders
``*_000``, ``*_001`` ... are merged as pytracking merges several runs.
"""

from __future__ import annotations

import pathlib

from track import cli_common, scoring


def add_arguments(parser) -> None:
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--results", required=True, type=pathlib.Path, help="results folder")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write the full summary (curves too) here")
    parser.add_argument("--plot", type=pathlib.Path, default=None, help="write success/precision plots here")
    parser.add_argument("--name", default=None, help="tracker name in table and plots (default: folder name)")
    parser.add_argument("--per-sequence", action="store_true", help="also print the per-sequence table")
    parser.add_argument("--eao-range", default="100,356", metavar="LOW,HIGH",
                        help="sequence lengths averaged by EAO (reset protocol; VOT2018: 100,356)")
    parser.add_argument("--protocol", choices=("ope", "reset"), default="ope",
                        help="reset: score VOT reset-based trajectories (accuracy, robustness, EAO)")
    parser.add_argument("--skip-missing", action="store_true", help="score only the sequences with results")


def run(args) -> int:
    sequences = cli_common.load_from_args(args)
    if args.protocol == "reset":
        from track import runner_reset

        summary = runner_reset.score_reset(sequences, args.results, runner_reset.parse_range(args.eao_range))
        print(runner_reset.format_summary(summary))
        if args.json:
            cli_common.write_json(args.json, summary)
        return 0
    summary = scoring.score_results(sequences, args.results, skip_missing=args.skip_missing)
    name = args.name or args.results.resolve().name
    if args.per_sequence:
        print(scoring.format_table(summary["per_sequence"], first="sequence"))
        print()
    rows = {name: summary["overall"]}
    if len(summary["runs"]) > 1:
        rows = {f"{name} {r}": s for r, s in zip(summary["runs"], summary["per_run"])}
        rows[f"{name} mean of {len(summary['runs'])}"] = summary["overall"]
    print(f"{args.dataset}: {summary['num_sequences']} sequences")
    print(scoring.format_table(rows, first="tracker"))
    if summary["missing"]:
        print(f"left out (no results): {', '.join(summary['missing'])}")
    if args.json:
        cli_common.write_json(args.json, {name: summary})
    if args.plot:
        from track import plots

        for path in plots.plot_curves({name: summary}, args.plot, kinds=("success", "precision", "norm_precision")):
            print(f"wrote {path}")
    return 0
