"""Arguments shared by the evaluation subcommands (``eval``, ``score``, ``compare``, ``report``)."""

from __future__ import annotations

import json
import pathlib

from atom_jax.data.registry import DATASET_NAMES, load_dataset


def add_dataset_arguments(parser, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, choices=DATASET_NAMES, metavar="NAME",
                        help=f"dataset layout: {', '.join(DATASET_NAMES)} (generic: a folder of sequence "
                             "folders in OTB or VOT style)")
    parser.add_argument("--root", required=required, type=pathlib.Path, help="dataset root folder (or video file)")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names to keep (default: all found)")


def load_from_args(args):
    names = [n for n in args.sequences.split(",") if n] if args.sequences else None
    return load_dataset(args.dataset, args.root, names)


def named_folders(items) -> dict[str, pathlib.Path]:
    """``NAME=FOLDER`` or ``FOLDER`` arguments -> {display name: folder} (the folder's name by default)."""
    out = {}
    for item in items:
        text = str(item)
        name, sep, folder = text.partition("=")
        path = pathlib.Path(folder) if sep else pathlib.Path(text)
        out[name if sep else path.resolve().name] = path
    return out


def write_json(path, data) -> None:
    from track.files import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1) + "\n")
