"""``atom-jax compare``: several results folders side by side, per sequence and overall, with plots."""

from __future__ import annotations

import pathlib

from track import cli_common, scoring


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="+", type=pathlib.Path,
                        help="results folders; NAME=FOLDER sets the display name")
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--metric", default="AUC", choices=scoring.SCORED_KEYS,
                        help="metric of the per-sequence table (default AUC)")
    parser.add_argument("--plot", type=pathlib.Path, default=None, help="write comparison plots here")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="write all summaries here")
    parser.add_argument("--markdown", action="store_true", help="print the overall table as Markdown")
    parser.add_argument("--skip-missing", action="store_true", help="score only the sequences with results")


def run(args) -> int:
    sequences = cli_common.load_from_args(args)
    folders = cli_common.named_folders(args.results)
    summaries = {name: scoring.score_results(sequences, path, args.skip_missing) for name, path in folders.items()}
    seq_names = [s.name for s in scoring.scorable(sequences)]
    per_seq = {n: {t: s["per_sequence"][n][args.metric] for t, s in summaries.items() if n in s["per_sequence"]}
               for n in seq_names}
    print(f"{args.metric} per sequence")
    print(scoring.format_table(per_seq, keys=tuple(summaries), first="sequence"))
    print()
    overall = {t: s["overall"] for t, s in summaries.items()}
    table = scoring.format_markdown if args.markdown else scoring.format_table
    print(table(overall, first="tracker"))
    if args.json:
        cli_common.write_json(args.json, summaries)
    if args.plot:
        from track import plots

        for path in plots.plot_curves(summaries, args.plot, kinds=("success", "precision", "norm_precision")):
            print(f"wrote {path}")
    return 0
