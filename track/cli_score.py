"""``atom-jax score``: success / precision metrics of a results folder in pytracking's text format.

Works on any folder of ``<sequence>.txt`` files (ours, pytracking's raw results, anyone's); run subfolders
``*_000``, ``*_001`` ... are merged as pytracking merges several runs.
"""

from __future__ import annotations

import argparse
import pathlib

from track import cli_common, scoring


JSON_SCHEMA = """\
--json FILE (--protocol ope) holds one entry keyed by the tracker name (--name, default the results folder's
name), the shape `atom-jax compare --json` writes for several:
  {NAME: {"overall": {KEY: value}, "per_sequence": {SEQ: {KEY: value}}, "num_sequences": N,
          "curves": {"overlap_thresholds": [21], "success": [21], "center_thresholds": [51], "precision": [51],
                     "norm_center_thresholds": [51], "norm_precision": [51]},
          "runs": [run folder names], "per_run": [{KEY: value} per run], "std_over_runs": {KEY: value},
          "missing": [SEQ without results], "results": "FOLDER"}}
  KEY: AUC, OP50, OP75, Precision, NormPrecision, NormPrecisionAUC, AO (percent; curves in percent too).
  e.g. python -c "import json; d = json.load(open('s.json')); print(next(iter(d.values()))['overall']['AUC'])"
--json FILE with --protocol reset is not keyed by name:
  {"accuracy": A, "robustness": R, "eao": EAO, "eao_curve": [...],
   "per_sequence": {SEQ: {"accuracy": a, "failures": f, "length": frames}}}"""


def add_arguments(parser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = JSON_SCHEMA
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--results", required=True, type=pathlib.Path, help="results folder")
    parser.add_argument("--json", type=pathlib.Path, default=None,
                        help="write the full summary (curves too) here, under the tracker name: schema below")
    parser.add_argument("--plot", type=pathlib.Path, default=None, help="write success/precision plots here")
    parser.add_argument("--name", default=None, help="tracker name in table and plots (default: folder name)")
    parser.add_argument("--per-sequence", action="store_true", help="also print the per-sequence table")
    parser.add_argument("--eao-range", default="100,356", metavar="LOW,HIGH",
                        help="sequence lengths averaged by EAO (reset protocol; VOT2018: 100,356)")
    parser.add_argument("--protocol", choices=("ope", "reset"), default="ope",
                        help="reset: score VOT reset-based trajectories (accuracy, robustness, EAO)")
    parser.add_argument("--overlap", choices=("raster", "exact"), default="raster",
                        help="reset protocol: overlap for failures and accuracy; raster (default): the VOT toolkit's "
                             "pixel counts, exact: continuous-plane intersection")
    parser.add_argument("--skip-missing", action="store_true", help="score only the sequences with results")


def run(args) -> int:
    sequences = cli_common.load_from_args(args)
    if args.protocol == "reset":
        from track import runner_reset

        summary = runner_reset.score_reset(sequences, args.results, runner_reset.parse_range(args.eao_range),
                                           args.overlap)
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
