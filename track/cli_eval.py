"""``atom-jax eval``: run a tracker over a dataset into a results folder (resumable), then score it.

Example (the README's table: several trackers in one command, each into ``<results>/<tracker>``)::

    atom-jax eval --dataset generic --root path/to/sequences --tracker atom,csrt,kcf,mil \
        --weights atom.npz --results results/shared

``--batch B`` tracks B sequences in lockstep with their slots sharded over the first min(B, local devices)
devices (``--devices N``: the first N). Across processes or hosts run the same command in each with
``--coordinator HOST:PORT --num-processes N --process-id I`` (and a results folder they all see): each tracks its
share of the sequences (:func:`track.runner.split`), and process 0 prints the merged score once all are done
(:mod:`track.hosts`).

A video without ground truth: ``atom-jax eval --dataset video --root clip.mp4 --init x,y,w,h --results R``.
"""

from __future__ import annotations

import pathlib
import sys

from atom_jax.errors import InputError
from track import baselines, cli_common, results, runner, scoring


def add_arguments(parser) -> None:
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--init", default=None, metavar="X,Y,W,H",
                        help="--dataset video only: the first frame's box when no <video stem>.txt ground truth "
                             "lies beside the video (then nothing is scored; with the ground truth file this is "
                             "not used)")
    parser.add_argument("--tracker", default="atom",
                        help="atom (built-in weights unless --weights), an OpenCV baseline (csrt, kcf, mil) or static (initial box); "
                             "a comma-separated list runs each into <results>/<tracker> and compares them")
    parser.add_argument("--weights", default=None, help="ATOM weights (.npz, a pytracking .pth or a built-in name; "
                        "default: the built-in demo weights)")
    parser.add_argument("--results", required=True, type=pathlib.Path,
                        help="results folder (<seq>.txt per sequence; run_NNN/ subfolders when --runs > 1)")
    parser.add_argument("--runs", type=int, default=1, help="runs with seeds seed..seed+K-1 (paper: 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first run")
    parser.add_argument("--batch", type=int, default=1, help="sequences tracked in lockstep (vmapped ATOM)")
    parser.add_argument("--devices", type=int, default=None,
                        help="with --batch: local devices the slots are sharded over "
                             "(default: min(local devices, --batch))")
    parser.add_argument("--coordinator", default=None,
                        help="several processes/hosts: jax.distributed coordinator HOST:PORT (process 0's host)")
    parser.add_argument("--num-processes", type=int, default=1, help="with --coordinator: number of processes")
    parser.add_argument("--process-id", type=int, default=0, help="with --coordinator: this process (0..N-1)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=VALUE",
                        help="ATOM setting override (repeatable), e.g. --set num_init_random_samples=0; "
                             "ignored by the OpenCV baselines")
    parser.add_argument("--optimizer-log", action="store_true",
                        help="ATOM: write each sequence's online-optimizer statistics, one JSON object per frame, "
                             "to <seq>_optimizer.jsonl beside its boxes (docs/optimizer.md)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--no-score", action="store_true", help="do not print the metrics afterwards")
    parser.add_argument("--markdown", action="store_true", help="print the final table as Markdown")
    parser.add_argument("--eao-range", default="100,356", metavar="LOW,HIGH",
                        help="sequence lengths averaged by EAO (reset protocol; VOT2018: 100,356)")
    parser.add_argument("--protocol", choices=("ope", "reset"), default="ope",
                        help="ope: one pass from the first frame (default); reset: VOT's reset-based protocol "
                             "(re-initialise 5 frames after a failure; accuracy, robustness, EAO)")
    parser.add_argument("--overlap", choices=("raster", "exact"), default="raster",
                        help="reset protocol: overlap for failures and accuracy; raster (default): the VOT toolkit's "
                             "pixel counts, exact: continuous-plane intersection")
    parser.add_argument("--report", nargs="?", const="", default=None, type=str, metavar="HTML",
                        help="at the end, write the HTML report of the trackers run (atom-jax report) here "
                             "(default <results>/report.html)")
    parser.add_argument("--pack", choices=("got10k", "trackingnet"), default=None,
                        help="also write the submission zip for GOT-10k test / TrackingNet")


def _trackers(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in baselines.TRACKER_NAMES]
    if not names or unknown:
        raise InputError(f"unknown tracker {', '.join(unknown) or text!r}; choose from "
                         f"{', '.join(baselines.TRACKER_NAMES)}")
    return names


def run(args) -> int:
    all_sequences = cli_common.load_from_args(args)
    trackers = _trackers(args.tracker)
    overrides = runner.parse_overrides(args.overrides)
    process_id, num_processes = 0, 1
    sequences = all_sequences
    if args.num_processes != 1 and not args.coordinator:
        raise InputError("--num-processes needs --coordinator HOST:PORT")
    if args.coordinator:
        from track import hosts

        hosts.initialize(args.coordinator, args.num_processes, args.process_id)
        process_id, num_processes = args.process_id, args.num_processes
        sequences = runner.split(all_sequences, num_processes, process_id)
        print(f"process {process_id} of {num_processes}: {len(sequences)} of {len(all_sequences)} sequences",
              flush=True)
    folders = {t: args.results / t if len(trackers) > 1 else args.results for t in trackers}
    rows, status = {}, 0
    for name, folder in folders.items():
        opts = {} if name in baselines.OPENCV_TRACKERS else overrides  # OpenCV's trackers take no settings
        if args.protocol == "reset":
            if args.optimizer_log:
                raise InputError("--optimizer-log is for the one-pass protocol (--protocol ope)")
            counts = _run_reset(args, name, folder, sequences, opts)
            if num_processes > 1:
                counts = {k: sum(c[k] for c in hosts.gather(folder, f"reset/{name}", counts)) for k in counts}
            if process_id == 0:
                print(f"{name}: tracked {counts['finished']}, already done {counts['skipped']} -> {folder}")
                _score_reset(args, folder, all_sequences)
            continue
        report = runner.evaluate(sequences, name, folder, weights=args.weights, overrides=opts, runs=args.runs,
                                 batch=args.batch, seed=args.seed, progress=not args.no_progress,
                                 devices=args.devices, optimizer_log=args.optimizer_log)
        if num_processes > 1:
            print(f"process {process_id}, {name}: tracked {len(report.finished)}, already done "
                  f"{len(report.skipped)}, failed {len(report.failed)}", flush=True)
            parts = hosts.gather(folder, f"ope/{name}", report._asdict())
            report = runner.RunReport(*([x for part in parts for x in part[field]]
                                        for field in runner.RunReport._fields))
            if process_id != 0:
                status = status or (1 if report.failed else 0)
                continue
        print(f"{name}: tracked {len(report.finished)}, already done {len(report.skipped)}, "
              f"failed {len(report.failed)} -> {folder}")
        for line in report.failed:
            print(f"  failed: {line}", file=sys.stderr)
        status = status or (1 if report.failed else 0)
        if args.pack:
            pack = results.pack_got10k if args.pack == "got10k" else results.pack_trackingnet
            print(f"wrote {pack(folder, folder.with_name(folder.name + '_' + args.pack), all_sequences)}")
        if not args.no_score and scoring.scorable(all_sequences) and not report.failed:
            summary = scoring.score_results(all_sequences, folder)
            if args.runs > 1:
                rows.update({f"{name} {r}": s for r, s in zip(summary["runs"], summary["per_run"])})
            rows[name if args.runs == 1 else f"{name} mean of {args.runs}"] = summary["overall"]
    if rows:
        table = scoring.format_markdown if args.markdown else scoring.format_table
        print(table(rows, first="tracker"))
    if args.report is not None and process_id == 0:
        _write_report(args, folders, all_sequences, status)
    return status


def _write_report(args, folders, sequences, status) -> None:
    if args.protocol == "reset":
        print("no report: atom-jax report shows one-pass (ope) results", file=sys.stderr)
    elif status or not scoring.scorable(sequences):
        print("no report: a sequence failed or there is no ground truth to score", file=sys.stderr)
    else:
        from track import report

        out = pathlib.Path(args.report) if args.report else args.results / "report.html"
        info = report.write_report(sequences, folders, args.dataset, args.root, out)
        print(f"wrote {info['path']} ({info['bytes'] / 1e6:.2f} MB, {info['seconds']:.1f} s)")


def _run_reset(args, name, folder, sequences, overrides) -> dict:
    from track import runner_reset

    return runner_reset.evaluate_reset(sequences, name, folder, weights=args.weights, overrides=overrides,
                                       runs=args.runs, seed=args.seed, progress=not args.no_progress,
                                       overlap=args.overlap)


def _score_reset(args, folder, sequences) -> None:
    from track import runner_reset

    if not args.no_score:
        eao_range = runner_reset.parse_range(args.eao_range)
        print(runner_reset.format_summary(runner_reset.score_reset(sequences, folder, eao_range, args.overlap)))
