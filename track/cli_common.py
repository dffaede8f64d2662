"""Arguments shared by the evaluation subcommands (``eval``, ``score``, ``compare``, ``report``), and the dataset
errors that point at the fix (a folder of OTB/VOT-style sequences read as a benchmark, a video without ground
truth)."""

from __future__ import annotations

import json
import pathlib

from atom_jax.data.registry import DATASET_NAMES, load_dataset
from atom_jax.errors import InputError


def add_dataset_arguments(parser, required: bool = True) -> None:
    parser.add_argument("--dataset", required=required, choices=DATASET_NAMES, metavar="NAME",
                        help=f"dataset layout: {', '.join(DATASET_NAMES)} (generic: a folder of sequence "
                             "folders in OTB or VOT style)")
    parser.add_argument("--root", required=required, type=pathlib.Path, help="dataset root folder (or video file)")
    parser.add_argument("--sequences", default=None,
                        help="comma-separated sequence names to keep (default: all found)")


def load_from_args(args):
    """The sequences of ``--dataset``/``--root``/``--sequences`` (and ``--init`` where the command has it)."""
    names = [n for n in args.sequences.split(",") if n] if args.sequences else None
    init = getattr(args, "init", None)
    if init is not None and args.dataset != "video":
        raise InputError(f"--init is for --dataset video (a {args.dataset} dataset has its own ground truth)")
    if args.dataset == "video":
        return _load_video(args.root, init, hasattr(args, "init"))
    try:
        return load_dataset(args.dataset, args.root, names)
    except InputError as err:
        hint = generic_hint(args.dataset, args.root, names)
        if hint:
            raise InputError(f"{err}; {hint}") from None
        raise


def generic_hint(dataset: str, root, names=None) -> str:
    """``"use --dataset generic ..."`` when ``root`` holds OTB/VOT-style sequence folders (those asked for, if
    ``names``) that the ``dataset`` reader did not take (e.g. names outside the OTB-100 table), else ``""``."""
    from atom_jax.data.folders import generic

    root = pathlib.Path(root)
    if dataset == "generic" or not root.is_dir():
        return ""
    try:
        found = list(generic(root).names)
    except (InputError, OSError):
        return ""
    if not found or (names and not set(names) <= set(found)):
        return ""
    shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
    table = {"otb": "OTB-100's", "uav": "UAV123's", "uav10fps": "UAV123@10fps's", "lasot": "LaSOT's test"}.get(dataset)
    which = f"--dataset {dataset} reads only {table} sequence names; " if table else ""
    return f"{which}use --dataset generic for the {len(found)} OTB/VOT-style sequence folder(s) there ({shown})"


def _load_video(path, init, has_init_option: bool):
    from atom_jax.data.folders import video
    from atom_jax.data.sequence import check_init_box

    path = pathlib.Path(path)
    if path.is_dir():
        raise InputError(f"{path}: a folder, not a video file; for a folder of sequence folders use --dataset generic")
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    gt_path = path.with_suffix(".txt")
    if init is None and not gt_path.is_file():
        how = "; or give the first frame's box: --init x,y,w,h" if has_init_option else " to score it"
        raise InputError(f"{path}: no ground truth {gt_path.name} beside the video (one x,y,w,h line per frame){how}")
    box = None
    if init is not None and not gt_path.is_file():
        from track.cli_track import parse_box

        box = parse_box(init)
    return [check_init_box(seq) for seq in video(path, box)]


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
