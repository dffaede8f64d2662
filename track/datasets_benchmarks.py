"""Readers of the benchmark layouts: OTB-100, UAV123, NFS (30 fps), LaSOT test, GOT-10k val/test, TrackingNet test.

Each takes the dataset root as distributed (or as pytracking expects it) and returns
:class:`track.datasets.Sequence` objects with pytracking's sequence names. Sequences of the fixed tables whose
folder is absent are left out (so a partial copy of a benchmark can be evaluated); a present folder with a
missing or malformed file raises :class:`~atom_jax.errors.InputError` naming it.
"""

from __future__ import annotations

import pathlib

import numpy as np

from atom_jax.errors import InputError
from track import dataset_tables as tables
from track.datasets import Sequence, list_images, match_frames
from track.files import load_labels, load_table


def _numbered_frames(folder: pathlib.Path, first: int, last: int, digits: int, ext: str) -> tuple[str, ...]:
    frames = tuple(str(folder / f"{i:0{digits}d}.{ext}") for i in range(first, last + 1))
    if frames and not pathlib.Path(frames[0]).is_file():
        raise InputError(f"{frames[0]}: first frame not found")
    return frames


def _check_lengths(name, frames, gt, gt_path):
    if len(frames) != len(gt):
        raise InputError(f"{gt_path}: {len(gt)} annotation lines for the {len(frames)} frames of {name}")


def read_otb(root) -> list[Sequence]:
    """OTB-100 ("OTB-2015"): ``<root>/<Seq>/img/0001.jpg``, ``<root>/<Seq>/groundtruth_rect.txt``; Jogging,
    Skating2 and Human4 hold several targets (``groundtruth_rect.<k>.txt`` -> sequences ``Jogging_1`` ...)."""
    root = pathlib.Path(root)
    out = []
    for entry in tables.OTB:
        name, last = entry.split(":")
        spec = dict(folder=name, start=1, digits=4, ext="jpg", omit=0, anno="groundtruth_rect.txt")
        spec.update(tables.OTB_SPECIAL.get(name, {}))
        folder = root / spec["folder"]
        if not folder.is_dir():
            continue
        img = next((folder / d for d in ("img", "jpg") if (folder / d).is_dir()), folder / "img")
        gt_path = folder / spec["anno"]
        gt = load_table(gt_path, ncols=4)[spec["omit"]:]
        frames = _numbered_frames(img, spec["start"] + spec["omit"], int(last), spec["digits"], spec["ext"])
        _check_lengths(name, frames, gt, gt_path)
        out.append(Sequence(name, "otb", frames, gt))
    return out


def _read_uav(root, variant: str, table: bool) -> list[Sequence]:
    root = pathlib.Path(root)
    seq_root, anno_root = root / "data_seq" / variant, root / "anno" / variant
    if not anno_root.is_dir():
        raise InputError(f"{anno_root}: UAV annotation folder not found (expected anno/{variant}/<name>.txt)")
    out = []
    for entry in tables.UAV123:
        parts = entry.split(":")
        name, folder, first, last = (parts[0], parts[0], 1, int(parts[1])) if len(parts) == 2 else \
            (parts[0], parts[1], int(parts[2]), int(parts[3]))
        gt_path = anno_root / f"{name}.txt"
        if not (seq_root / folder).is_dir() or not gt_path.is_file():
            continue
        gt = load_table(gt_path, ncols=4)
        if not table:
            if len(parts) != 2:
                continue  # frame ranges of the cut sequences are known for the 30 fps version only
            last = len(gt)
        frames = _numbered_frames(seq_root / folder, first, last, 6, "jpg")
        _check_lengths(name, frames, gt, gt_path)
        out.append(Sequence("uav_" + name, "uav", frames, gt))
    return out


def read_uav123(root) -> list[Sequence]:
    """UAV123 (30 fps): ``data_seq/UAV123/<video>/000001.jpg``, ``anno/UAV123/<name>.txt``; sequences such as
    ``car1_2`` are frame ranges of one video. Lines of NaN (target out of view) stay NaN."""
    return _read_uav(root, "UAV123", table=True)


def read_uav123_10fps(root) -> list[Sequence]:
    """UAV123@10fps: same layout under ``UAV123_10fps``; only the uncut sequences (their frame count is the
    annotation length; the cut ones' ranges at 10 fps are not tabulated here and are skipped)."""
    return _read_uav(root, "UAV123_10fps", table=False)


def read_nfs(root) -> list[Sequence]:
    """NFS at 30 fps, in pytracking's layout (``sequences/<name>/00001.jpg``, ``anno/nfs_<name>.txt``) or as
    distributed (``<name>/30/<name>/00001.jpg`` with ``<name>/30/<name>.txt``, whose lines
    ``id xmin ymin xmax ymax frame lost occluded generated "label"`` may be the 240 fps track: then every 8th
    line is a 30 fps frame). Names get pytracking's ``nfs_`` prefix."""
    root = pathlib.Path(root)
    if not (root / "anno").is_dir():
        return _read_nfs_original(root)
    out = []
    for entry in tables.NFS:
        name, last = entry.split(":")
        if not (root / "sequences" / name).is_dir():
            continue
        gt_path = root / "anno" / f"nfs_{name}.txt"
        gt = load_table(gt_path, ncols=4)
        frames = _numbered_frames(root / "sequences" / name, 1, int(last), 5, "jpg")
        _check_lengths(name, frames, gt, gt_path)
        out.append(Sequence("nfs_" + name, "nfs", frames, gt))
    return out


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


def _read_nfs_original(root: pathlib.Path) -> list[Sequence]:
    out = []
    for entry in tables.NFS:
        name = entry.split(":")[0]
        gt_path = root / name / "30" / f"{name}.txt"
        if not gt_path.is_file():
            continue
        frames = list_images(root / name / "30" / name)
        gt = _nfs_original_boxes(gt_path)
        if len(gt) != len(frames) and abs(len(gt) / max(len(frames), 1) - 8) < 1:
            gt = gt[::8]  # annotated at 240 fps
        if abs(len(gt) - len(frames)) > 1:
            raise InputError(f"{gt_path}: {len(gt)} boxes for the {len(frames)} frames of {name}")
        n = min(len(gt), len(frames))
        out.append(Sequence("nfs_" + name, "nfs", tuple(frames[:n]), gt[:n]))
    return out


def _lasot_test_names(root: pathlib.Path) -> list[str]:
    listed = root / "testing_set.txt"
    if listed.is_file():
        return [n.strip() for n in listed.read_text().splitlines() if n.strip()]
    names = []
    for entry in tables.LASOT_TEST:
        cls, indices = entry.split(":")
        names += [f"{cls}-{i}" for i in indices.split(",")]
    return names


def read_lasot(root) -> list[Sequence]:
    """LaSOT test split: ``<class>/<class>-<k>/img/00000001.jpg``, ``groundtruth.txt``, ``full_occlusion.txt`` and
    ``out_of_view.txt``; a frame is visible when neither flag is set."""
    root = pathlib.Path(root)
    out = []
    for name in _lasot_test_names(root):
        folder = root / name.split("-")[0] / name
        if not folder.is_dir():
            continue
        gt_path = folder / "groundtruth.txt"
        gt = load_table(gt_path, ncols=4)
        occluded = load_labels(folder / "full_occlusion.txt", expected_len=len(gt))
        out_of_view = load_labels(folder / "out_of_view.txt", expected_len=len(gt))
        frames = _numbered_frames(folder / "img", 1, len(gt), 8, "jpg")
        out.append(Sequence(name, "lasot", frames, gt, target_visible=(occluded == 0) & (out_of_view == 0)))
    return out


def _got10k(root, split: str) -> list[Sequence]:
    root = pathlib.Path(root)
    base = root / split if (root / split / "list.txt").is_file() else root
    if not (base / "list.txt").is_file():
        raise InputError(f"{root}: no {split}/list.txt (GOT-10k layout: <root>/{split}/list.txt)")
    out = []
    for name in (n.strip() for n in (base / "list.txt").read_text().splitlines()):
        if not name:
            continue
        folder = base / name
        frames = list_images(folder)
        gt_path = folder / "groundtruth.txt"
        gt = load_table(gt_path, ncols=4)
        visible = None
        if split == "test":  # only the first box is given; the rest of the frames are unannotated
            first = gt[0]
            gt = np.full((len(frames), 4), np.nan)
            gt[0] = first
        else:
            frames = match_frames(name, frames, gt, gt_path)
            if (folder / "cover.label").is_file():
                visible = load_labels(folder / "cover.label", expected_len=len(gt)) > 0
        out.append(Sequence(name, "got10k", tuple(frames), gt, target_visible=visible))
    return out


def read_got10k_val(root) -> list[Sequence]:
    """GOT-10k val: ``val/list.txt``, ``val/<seq>/00000001.jpg``, ``groundtruth.txt``; frames with
    ``cover.label == 0`` (target fully occluded or absent) are not visible, as the GOT-10k toolkit scores."""
    return _got10k(root, "val")


def read_got10k_test(root) -> list[Sequence]:
    """GOT-10k test: as val, but ``groundtruth.txt`` holds only the first-frame box."""
    return _got10k(root, "test")


def read_trackingnet(root) -> list[Sequence]:
    """TrackingNet test: ``TEST/anno/<seq>.txt`` (first-frame box only) and ``TEST/frames/<seq>/0.jpg ...``."""
    root = pathlib.Path(root)
    base = root / "TEST" if (root / "TEST").is_dir() else root
    anno_dir = base / "anno"
    if not anno_dir.is_dir():
        raise InputError(f"{root}: no TEST/anno folder (TrackingNet layout)")
    out = []
    for gt_path in sorted(anno_dir.glob("*.txt")):
        frames = list_images(base / "frames" / gt_path.stem)
        if not frames:
            raise InputError(f"{base / 'frames' / gt_path.stem}: no frames for {gt_path}")
        gt = np.full((len(frames), 4), np.nan)
        gt[0] = load_table(gt_path, ncols=4)[0]
        out.append(Sequence(gt_path.stem, "trackingnet", tuple(frames), gt))
    return out
