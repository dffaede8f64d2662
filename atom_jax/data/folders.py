"""Readers of sequences kept as plain folders or video files: generic folders, VOT datasets, videos.

A sequence folder holds either
  * OTB style: ``groundtruth_rect.txt`` (``x,y,w,h`` per line; commas, tabs or spaces) with frames in ``img/``, or
  * VOT style: ``groundtruth.txt`` with 4-value rectangles or 8-value polygons (polygons become their bounding box,
    the annotation is kept in ``regions``) with frames in ``color/``, ``imgs/``, ``img/`` or the folder itself.
    This also covers folders of ``NAME/img/00001.jpg`` + ``NAME/groundtruth.txt`` where ``0,0,0,0`` marks a frame
    without a visible target (such a frame is not :attr:`~atom_jax.data.sequence.Sequence.visible`).
Extra trailing frames are dropped; fewer frames than annotation lines is an error naming the file.
Grayscale frames decode to RGB like all others.
"""

from __future__ import annotations

import pathlib

import numpy as np

from atom_jax.data.files import list_images, load_table
from atom_jax.data.sequence import Dataset, Sequence
from atom_jax.errors import InputError

_ANNOTATIONS = ("groundtruth_rect.txt", "groundtruth.txt")


def polygon_to_xywh(polygons: np.ndarray, mode: str = "union") -> np.ndarray:
    """VOT polygons ``(N, 8)`` ``x1,y1,...,x4,y4`` (or rectangles ``(N, 4)``, returned as they are) to boxes.

    ``union``: the axis-aligned bounding box of the corners (pytracking's VOT dataset, its ground truth for
    scoring). ``preserve_area``: centred on the corner mean, scaled to the polygon's area, plus one pixel
    (pytracking's initial box for VOT runs).
    """
    polygons = np.asarray(polygons, dtype=np.float64)
    if polygons.shape[-1] == 4:
        return polygons.copy()
    xs, ys = polygons[..., 0::2], polygons[..., 1::2]
    x1, x2, y1, y2 = xs.min(-1), xs.max(-1), ys.min(-1), ys.max(-1)
    if mode == "union":
        return np.stack([x1, y1, x2 - x1, y2 - y1], axis=-1)
    if mode != "preserve_area":
        raise InputError(f"unknown polygon conversion {mode!r} (union, preserve_area)")
    side1 = np.hypot(xs[..., 0] - xs[..., 1], ys[..., 0] - ys[..., 1])
    side2 = np.hypot(xs[..., 1] - xs[..., 2], ys[..., 1] - ys[..., 2])
    scale = np.sqrt(side1 * side2 / ((x2 - x1) * (y2 - y1)))
    w, h = scale * (x2 - x1) + 1, scale * (y2 - y1) + 1
    return np.stack([xs.mean(-1) - w / 2, ys.mean(-1) - h / 2, w, h], axis=-1)


def match_frames(name: str, frames: list[str], gt: np.ndarray, gt_path) -> list[str]:
    """Pair frames with annotation lines: extra trailing frames are dropped, missing frames are an error."""
    if len(frames) < len(gt):
        raise InputError(f"{gt_path}: {len(gt)} annotation lines but only {len(frames)} frames for {name}")
    return frames[: len(gt)]


def is_sequence_folder(folder: pathlib.Path) -> bool:
    return any((folder / a).is_file() for a in _ANNOTATIONS)


def read_folder_sequence(folder, name: str | None = None, dataset: str = "generic") -> Sequence:
    """One sequence folder in OTB or VOT style (see the module docstring)."""
    folder = pathlib.Path(folder)
    name = name or folder.name
    regions = None
    if (folder / "groundtruth_rect.txt").is_file():
        gt_path = folder / "groundtruth_rect.txt"
        gt = load_table(gt_path, ncols=4)
    elif (folder / "groundtruth.txt").is_file():
        gt_path = folder / "groundtruth.txt"
        regions = load_table(gt_path, ncols=(4, 8))
        gt = polygon_to_xywh(regions)
    else:
        raise InputError(f"{folder}: no groundtruth_rect.txt or groundtruth.txt")
    for sub in ("img", "color", "imgs", "."):
        if (folder / sub).is_dir():
            frames = list_images(folder / sub)
            if frames:
                break
    else:
        frames = []
    if not frames:
        raise InputError(f"{folder}: no image frames (looked in img/, color/, imgs/ and the folder itself)")
    frames = match_frames(name, frames, gt, gt_path)
    return Sequence(name, dataset, tuple(frames), gt, regions=None if regions is None else regions[: len(frames)])


def generic(root, dataset: str = "generic") -> Dataset:
    """Every subfolder of ``root`` that holds a sequence, by folder name (sorted); ``root`` itself may also be
    a single sequence folder. Sequences are read when first used."""
    root = pathlib.Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: sequence folder not found")
    if is_sequence_folder(root):
        return Dataset(dataset, [root.name], lambda n: read_folder_sequence(root, n, dataset), root=root)
    names = sorted(d.name for d in root.iterdir() if d.is_dir() and is_sequence_folder(d))
    return Dataset(dataset, names, lambda n: read_folder_sequence(root / n, n, dataset), root=root)


def vot(root) -> Dataset:
    """A VOT dataset folder: ``list.txt`` naming the sequences (all sequence subfolders without it)."""
    root = pathlib.Path(root)
    if not (root / "list.txt").is_file():
        return generic(root, dataset="vot")
    names = [n.strip() for n in (root / "list.txt").read_text().splitlines() if n.strip()]
    return Dataset("vot", names, lambda n: read_folder_sequence(root / n, n, "vot"), root=root)


def video(root, init_box_xywh=None) -> Dataset:
    """The video file ``root`` as one sequence. Ground truth from ``<stem>.txt`` beside it if present, else only
    the given first-frame box (the other frames are then unannotated)."""
    import cv2

    path = pathlib.Path(root)
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open video")
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    gt_path = path.with_suffix(".txt")
    if gt_path.is_file():
        gt = load_table(gt_path, ncols=4)
        count = min(count, len(gt)) if count > 0 else len(gt)
        gt = gt[:count]
    elif init_box_xywh is not None:
        gt = np.full((max(count, 1), 4), np.nan)
        gt[0] = np.asarray(init_box_xywh, dtype=np.float64)
    else:
        raise InputError(f"{path}: need {gt_path.name} beside the video or an initial box")
    seq = Sequence(path.stem, "video", (), gt, video=str(path))
    return Dataset("video", [seq.name], lambda n: seq, root=path)
