"""``atom-jax report``: one self-contained HTML page showing an evaluation of one or more results folders.

Example (an atom-jax run, OpenCV's CSRT and a pytracking raw-results folder side by side)::

    atom-jax report --dataset otb --root path/to/OTB100 atom=results/atom csrt=results/csrt \
        pytracking=path/to/pytracking/tracking_results/atom/default --out report.html

The first folder is the reference the differences are taken to. Results folders are read as ``compare`` reads
them (pytracking's raw results and got10k records too; ``*_NNN`` run folders merged).
"""

from __future__ import annotations

import pathlib

from track import cli_common, report


def add_arguments(parser) -> None:
    parser.add_argument("results", nargs="+", type=pathlib.Path,
                        help="results folders; NAME=FOLDER sets the display name; the first is the reference")
    cli_common.add_dataset_arguments(parser)
    parser.add_argument("--out", required=True, type=pathlib.Path, help="HTML file to write")
    parser.add_argument("--attributes", type=pathlib.Path, default=None, metavar="DIR",
                        help="folder of <sequence>.txt attribute flag files (e.g. LaSOT's toolkit annos/att); "
                             "default: the dataset's own files or table")
    parser.add_argument("--no-thumbnails", action="store_true", help="leave out the failure thumbnails")
    parser.add_argument("--skip-missing", action="store_true", help="score only the sequences with results")


def run(args) -> int:
    sequences = cli_common.load_from_args(args)
    folders = cli_common.named_folders(args.results)
    info = report.write_report(sequences, folders, args.dataset, args.root, args.out,
                               skip_missing=args.skip_missing, attributes_dir=args.attributes,
                               thumbnails=not args.no_thumbnails)
    print(f"wrote {info['path']}: {info['trackers']} trackers, {info['sequences']} sequences, "
          f"{info['bytes'] / 1e6:.2f} MB in {info['seconds']:.1f} s")
    return 0
