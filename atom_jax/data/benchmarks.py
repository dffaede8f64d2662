"""Readers of the benchmarks with fixed sequence tables: OTB-100, UAV123 (30 fps and 10 fps), NFS (30 fps).

Each takes the dataset root as distributed (or as pytracking expects it) and gives a
:class:`~atom_jax.data.sequence.Dataset` with pytracking's sequence names. Sequences of the tables whose folder is
absent are left out (so a partial copy of a benchmark can be evaluated); a present folder with a missing or
malformed file raises :class:`~atom_jax.errors.InputError` naming it.
"""

from __future__ import annotations

import pathlib

import numpy as np

from atom_jax.data import tables
from atom_jax.data.files import list_images, load_table, numbered_frames
from atom_jax.data.sequence import Dataset, Sequence
from atom_jax.errors import InputError


def _check_lengths(name, frames, gt, gt_path):
    if len(frames) != len(gt):
        raise InputError(f"{gt_path}: {len(gt)} annotation lines for the {len(frames)} frames of {name}")


def _otb_sequence(root: pathlib.Path, name: str, last: int) -> Sequence:
    spec = dict(folder=name, start=1, digits=4, ext="jpg", omit=0, anno="groundtruth_rect.txt")
    spec.update(tables.OTB_SPECIAL.get(name, {}))
    folder = root / spec["folder"]
    img = next((folder / d for d in ("img", "jpg") if (folder / d).is_dir()), folder / "img")
    gt_path = folder / spec["anno"]
    gt = load_table(gt_path, ncols=4)[spec["omit"]:]
    frames = numbered_frames(img, spec["start"] + spec["omit"], last, spec["digits"], spec["ext"])
    _check_lengths(name, frames, gt, gt_path)
    return Sequence(name, "otb", frames, gt)


def otb(root) -> Dataset:
    """OTB-100 ("OTB-2015"): ``<root>/<Seq>/img/0001.jpg``, ``<root>/<Seq>/groundtruth_rect.txt``; Jogging,
    Skating2 and Human4 hold several targets (``groundtruth_rect.<k>.txt`` -> sequences ``Jogging_1`` ...)."""
    root = pathlib.Path(root)
    last = {}
    for entry in tables.OTB:
        name, end = entry.split(":")
        if (root / tables.OTB_SPECIAL.get(name, {}).get("folder", name)).is_dir():
            last[name] = int(end)
    return Dataset("otb", list(last), lambda n: _otb_sequence(root, n, last[n]), root=root)


def _uav(root, variant: str, cut: bool) -> Dataset:
    """UAV123 sequences of ``variant``; ``cut``: also the sequences cut out of longer videos (by the table)."""
    root = pathlib.Path(root)
    seq_root, anno_root = root / "data_seq" / variant, root / "anno" / variant
    if not anno_root.is_dir():
        raise InputError(f"{anno_root}: UAV annotation folder not found (expected anno/{variant}/<name>.txt)")
    entries = {}
    for entry in tables.UAV123:
        parts = entry.split(":")
        name, folder, first, last = (parts[0], parts[0], 1, int(parts[1])) if len(parts) == 2 else \
            (parts[0], parts[1], int(parts[2]), int(parts[3]))
        if len(parts) != 2 and not cut:
            continue  # frame ranges of the cut sequences are known for the 30 fps version only
        if (seq_root / folder).is_dir() and (anno_root / f"{name}.txt").is_file():
            entries["uav_" + name] = (name, folder, first, last)

    def load(key):
        name, folder, first, last = entries[key]
        gt_path = anno_root / f"{name}.txt"
        gt = load_table(gt_path, ncols=4)
        frames = numbered_frames(seq_root / folder, first, last if cut else len(gt), 6, "jpg")
        _check_lengths(name, frames, gt, gt_path)
        return Sequence(key, "uav", frames, gt)

    return Dataset("uav", list(entries), load, root=root)


def uav123(root) -> Dataset:
    """UAV123 (30 fps): ``data_seq/UAV123/<video>/000001.jpg``, ``anno/UAV123/<name>.txt``; sequences such as
    ``car1_2`` are frame ranges of one video. Lines of NaN (target out of view) stay NaN."""
    return _uav(root, "UAV123", cut=True)


def uav123_10fps(root) -> Dataset:
    """UAV123@10fps: same layout under ``UAV123_10fps``; only the uncut sequences (their frame count is the
    annotation length; the cut ones' ranges at 10 fps are not tabulated here and are skipped)."""
    return _uav(root, "UAV123_10fps", cut=False)


def _nfs_sequence(root: pathlib.Path, name: str, last: int) -> Sequence:
    gt_path = root / "anno" / f"nfs_{name}.txt"
    gt = load_table(gt_path, ncols=4)
    frames = numbered_frames(root / "sequences" / name, 1, last, 5, "jpg")
    _check_lengths(name, frames, gt, gt_path)
    return Sequence("nfs_" + name, "nfs", frames, gt)


def _nfs_original_boxes(path: pathlib.Path) -> np.ndarray:
    rows = []
    for lineno, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            x1, y1, x2, y2 = (float(v) for v in fields[1:5])
        except ValueError:
            raise InputError(f"{path}:{lineno}: expected 'id xmin ymin xmax ymax ...'") from None
        rows.append((x1, y1, x2 - x1, y2 - y1))
    if not rows:
        raise InputError(f"{path}: no data")
    return np.asarray(rows)


def _nfs_original_sequence(root: pathlib.Path, name: str) -> Sequence:
    gt_path = root / name / "30" / f"{name}.txt"
    frames = list_images(root / name / "30" / name)
    gt = _nfs_original_boxes(gt_path)
    if len(gt) != len(frames) and abs(len(gt) / max(len(frames), 1) - 8) < 1:
        gt = gt[::8]  # annotated at 240 fps
    if abs(len(gt) - len(frames)) > 1:
        raise InputError(f"{gt_path}: {len(gt)} boxes for the {len(frames)} frames of {name}")
    n = min(len(gt), len(frames))
    return Sequence("nfs_" + name, "nfs", tuple(frames[:n]), gt[:n])


def nfs(root) -> Dataset:
    """NFS at 30 fps, in pytracking's layout (``sequences/<name>/00001.jpg``, ``anno/nfs_<name>.txt``) or as
    distributed (``<name>/30/<name>/00001.jpg`` with ``<name>/30/<name>.txt``, whose lines
    ``id xmin ymin xmax ymax frame lost occluded generated "label"`` may be the 240 fps track: then every 8th
    line is a 30 fps frame). Names get pytracking's ``nfs_`` prefix."""
    root = pathlib.Path(root)
    last = {name: int(end) for name, end in (entry.split(":") for entry in tables.NFS)}
    if (root / "anno").is_dir():
        present = [n for n in last if (root / "sequences" / n).is_dir()]
        return Dataset("nfs", ["nfs_" + n for n in present],
                       lambda key: _nfs_sequence(root, key[4:], last[key[4:]]), root=root)
    present = [n for n in last if (root / n / "30" / f"{n}.txt").is_file()]
    return Dataset("nfs", ["nfs_" + n for n in present], lambda key: _nfs_original_sequence(root, key[4:]),
                   root=root)
