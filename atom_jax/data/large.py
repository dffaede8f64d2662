"""The large tracking datasets with training and test splits: LaSOT, GOT-10k, TrackingNet.

Layouts (as the datasets ship them):
  * LaSOT: ``root/<class>/<class>-<k>/{groundtruth.txt, full_occlusion.txt, out_of_view.txt, img/00000001.jpg}``.
    Split ``test`` is Protocol II (LaSOT's ``testing_set.txt`` when it is in the root, else pytracking's list in
    :mod:`atom_jax.data.tables`), ``train`` every other sequence found (ltr's training split), ``all`` both.
    Visible: not fully occluded and not out of view.
  * GOT-10k: ``root/<split>/list.txt`` (or ``root/list.txt`` when ``root`` is the split's folder) and
    ``<seq>/{groundtruth.txt, absence.label, cover.label, 00000001.jpg}``. Visible: not absent and cover > 0 (the
    frames the GOT-10k toolkit scores); the label files are optional. In split ``test`` ``groundtruth.txt`` holds
    only the first box; the other rows are NaN and the frames are those of the folder.
  * TrackingNet: split ``train``: chunks ``root/TRAIN_<k>/anno/<name>.txt`` with ``root/TRAIN_<k>/frames/<name>/0.jpg``
    (0-based; ATOM uses chunks 0-3). Split ``test``: ``root/TEST/anno/<name>.txt`` (first box only) and
    ``root/TEST/frames/<name>/``.

Sequences of a test split whose folder is absent are left out (a partial copy can be evaluated); a present
folder with a missing or malformed file raises :class:`~atom_jax.errors.InputError` naming it.
"""

from __future__ import annotations

import pathlib

import numpy as np

from atom_jax.data import tables
from atom_jax.data.files import list_images, load_labels, load_table, numbered_frames
from atom_jax.data.sequence import Dataset, Sequence
from atom_jax.errors import InputError


def _require_dir(path, what: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.is_dir():
        raise InputError(f"{what} not found: {path} is not a folder")
    return path


def _check_split(split: str, allowed: tuple[str, ...], what: str) -> None:
    if split not in allowed:
        raise InputError(f"unknown {what} split {split!r}; expected one of {', '.join(allowed)}")


# ----------------------------------------------------------------------------------------------------- LaSOT


def _lasot_test_names(root: pathlib.Path) -> list[str]:
    listed = root / "testing_set.txt"
    if listed.is_file():
        return [n.strip() for n in listed.read_text().splitlines() if n.strip()]
    names = []
    for entry in tables.LASOT_TEST:
        cls, indices = entry.split(":")
        names += [f"{cls}-{i}" for i in indices.split(",")]
    return names


def _lasot_folder(root: pathlib.Path, name: str) -> pathlib.Path:
    return root / name.rsplit("-", 1)[0] / name


def _lasot_sequence(root: pathlib.Path, name: str) -> Sequence:
    folder = _lasot_folder(root, name)
    gt = load_table(folder / "groundtruth.txt", ncols=4)
    occluded = load_labels(folder / "full_occlusion.txt", expected_len=len(gt))
    out_of_view = load_labels(folder / "out_of_view.txt", expected_len=len(gt))
    frames = numbered_frames(folder / "img", 1, len(gt), 8, "jpg")
    return Sequence(name, "lasot", frames, gt, target_visible=(occluded == 0) & (out_of_view == 0),
                    attributes={"full_occlusion": occluded, "out_of_view": out_of_view})


def lasot(root, split: str = "train") -> Dataset:
    """LaSOT sequences of ``split`` (``train``, ``test`` or ``all``) under ``root``."""
    _check_split(split, ("train", "test", "all"), "LaSOT")
    root = _require_dir(root, "LaSOT root")
    test = _lasot_test_names(root)
    if split == "test":
        names = [n for n in test if _lasot_folder(root, n).is_dir()]
    else:
        found = sorted(p.name for c in root.iterdir() if c.is_dir() for p in c.iterdir()
                       if (p / "groundtruth.txt").is_file())
        held_out = set(test) if split == "train" else set()
        names = [n for n in found if n not in held_out]
    return Dataset("lasot", names, lambda n: _lasot_sequence(root, n), root=root)


# --------------------------------------------------------------------------------------------------- GOT-10k


def _got10k_sequence(base: pathlib.Path, name: str, split: str) -> Sequence:
    folder = base / name
    gt = load_table(folder / "groundtruth.txt", ncols=4)
    if split == "test":  # only the first box is given; the rest of the frames are unannotated
        frames = tuple(list_images(folder))
        if not frames:
            raise InputError(f"{folder}: no frames for {folder / 'groundtruth.txt'}")
        first = gt[0]
        gt = np.full((len(frames), 4), np.nan)
        gt[0] = first
        return Sequence(name, "got10k", frames, gt)
    frames = numbered_frames(folder, 1, len(gt), 8, "jpg", check_first=False)
    visible, attributes = None, {}
    for label, shown in (("cover", lambda v: v > 0), ("absence", lambda v: v == 0)):
        path = folder / f"{label}.label"
        if path.is_file():
            attributes[label] = load_labels(path, expected_len=len(gt))
            flags = shown(attributes[label])
            visible = flags if visible is None else visible & flags
    return Sequence(name, "got10k", frames, gt, target_visible=visible, attributes=attributes)


def got10k(root, split: str = "train") -> Dataset:
    """GOT-10k sequences of ``split`` (``train``, ``val`` or ``test``), listed in its ``list.txt``."""
    _check_split(split, ("train", "val", "test"), "GOT-10k")
    root = _require_dir(root, "GOT-10k root")
    base = root / split if (root / split / "list.txt").is_file() else root
    if not (base / "list.txt").is_file():
        raise InputError(f"{root}: no {split}/list.txt (GOT-10k layout: <root>/{split}/list.txt)")
    names = [n.strip() for n in (base / "list.txt").read_text().splitlines() if n.strip()]
    return Dataset("got10k", names, lambda n: _got10k_sequence(base, n, split), root=root)


# ----------------------------------------------------------------------------------------------- TrackingNet


def _trackingnet_test_sequence(base: pathlib.Path, name: str) -> Sequence:
    gt_path = base / "anno" / f"{name}.txt"
    frames = list_images(base / "frames" / name)
    if not frames:
        raise InputError(f"{base / 'frames' / name}: no frames for {gt_path}")
    gt = np.full((len(frames), 4), np.nan)
    gt[0] = load_table(gt_path, ncols=4)[0]
    return Sequence(name, "trackingnet", tuple(frames), gt)


def _trackingnet_train_sequence(chunk: pathlib.Path, name: str) -> Sequence:
    gt = load_table(chunk / "anno" / f"{name}.txt", ncols=4)
    frames = numbered_frames(chunk / "frames" / name, 0, len(gt) - 1, 1, "jpg")
    return Sequence(name, "trackingnet", frames, gt)


def trackingnet(root, split: str = "train", chunks: tuple[int, ...] = (0, 1, 2, 3)) -> Dataset:
    """TrackingNet's training ``chunks`` (split ``train``) or its test set (split ``test``)."""
    _check_split(split, ("train", "test"), "TrackingNet")
    root = _require_dir(root, "TrackingNet root")
    if split == "test":
        base = root / "TEST" if (root / "TEST").is_dir() else root
        if not (base / "anno").is_dir():
            raise InputError(f"{root}: no TEST/anno folder (TrackingNet layout)")
        names = [p.stem for p in sorted((base / "anno").glob("*.txt"))]
        return Dataset("trackingnet", names, lambda n: _trackingnet_test_sequence(base, n), root=root)
    chunk_of = {}
    for k in chunks:
        anno = _require_dir(root / f"TRAIN_{k}" / "anno", f"TrackingNet chunk TRAIN_{k}")
        chunk_of.update((p.stem, root / f"TRAIN_{k}") for p in sorted(anno.glob("*.txt")))
    return Dataset("trackingnet", list(chunk_of), lambda n: _trackingnet_train_sequence(chunk_of[n], n),
                   root=root)
