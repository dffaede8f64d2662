"""Evaluation sequences: the :class:`Sequence` record, generic readers and the dataset registry.

Conventions (as pytracking evaluates):
  * ``ground_truth_xywh`` is ``(N, 4)`` float64, one row per frame, boxes as the dataset gives them (OTB/UAV are
    1-based MATLAB pixel coordinates, VOT/GOT-10k/LaSOT 0-based; nobody shifts them, nor do we). Rows with no
    annotation (TrackingNet/GOT-10k test beyond frame 1, NaN lines) are NaN.
  * ``target_visible`` is ``(N,)`` bool or ``None``: LaSOT (no full occlusion, not out of view) and GOT-10k val
    (``cover.label > 0``, the frames its toolkit scores). Metrics treat invisible frames as invalid.
  * ``regions`` keeps VOT's annotation (polygons) for the reset-based protocol; ``None`` elsewhere.
  * ``dataset`` is the key the metrics use for pytracking's dataset-specific rules ("uav", "lasot", ...).
  * Frames decode to RGB ``uint8`` HWC through :func:`track.files.read_image_rgb`.

Benchmark readers with fixed sequence tables live in :mod:`track.datasets_benchmarks`; all are reached through
:func:`load_dataset`.
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Callable, Iterator

import numpy as np

from atom_jax.errors import InputError
from track import files
from track.files import load_table, read_image_rgb

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclasses.dataclass(frozen=True, eq=False)
class Sequence:
    """One evaluation sequence. ``frames`` are image paths; a video sequence has ``video`` set instead."""

    name: str
    dataset: str
    frames: tuple[str, ...]
    ground_truth_xywh: np.ndarray
    target_visible: np.ndarray | None = None
    video: str | None = None
    regions: np.ndarray | None = None  # VOT's own annotation, (N, 4) rectangles or (N, 8) polygons

    def __post_init__(self):
        gt = self.ground_truth_xywh
        if gt.ndim != 2 or gt.shape[1] != 4 or len(gt) == 0:
            raise InputError(f"sequence {self.name}: ground truth must be (N, 4) with N >= 1, got {gt.shape}")
        if not np.all(np.isfinite(gt[0])) or np.any(gt[0, 2:] <= 0):
            raise InputError(f"sequence {self.name}: first-frame box {gt[0].tolist()} is not a valid x,y,w,h box")

    def __len__(self) -> int:
        return len(self.ground_truth_xywh) if self.video else len(self.frames)

    @property
    def init_box_xywh(self) -> np.ndarray:
        return self.ground_truth_xywh[0].copy()

    def images(self, start: int = 0, read_ahead: int = 3) -> Iterator[np.ndarray]:
        """Frames ``start, start + 1, ...`` as RGB uint8 HWC arrays, decoded ``read_ahead`` frames ahead in a
        background thread (0: decode on demand)."""
        if self.video is None:
            frames = (read_image_rgb(path) for path in self.frames[start:])
        else:
            frames = _video_frames(self.video, start, len(self))
        return files.read_ahead(frames, read_ahead)


def _video_frames(path: str, start: int, count: int) -> Iterator[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InputError(f"{path}: cannot open video")
    try:
        for index in range(count):
            ok, frame = cap.read()
            if not ok:
                raise InputError(f"{path}: video ended at frame {index}, expected {count} frames")
            if index >= start:
                yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def list_images(folder: pathlib.Path) -> list[str]:
    """Image files of a folder in frame order (numeric names by value, others by name)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: frame folder not found")
    files = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]

    def key(p):
        return (0, int(p.stem), p.name) if p.stem.isdigit() else (1, 0, p.name)

    return [str(p) for p in sorted(files, key=key)]


def match_frames(name: str, frames: list[str], gt: np.ndarray, gt_path) -> list[str]:
    """Pair frames with annotation lines: extra trailing frames are dropped, missing frames are an error."""
    if len(frames) < len(gt):
        raise InputError(f"{gt_path}: {len(gt)} annotation lines but only {len(frames)} frames for {name}")
    return frames[: len(gt)]


# --- polygons (VOT) ---------------------------------------------------------------------------------------

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


# --- generic layouts ---------------------------------------------------------------------------------------

def read_folder_sequence(folder, name: str | None = None, dataset: str = "generic") -> Sequence:
    """One sequence folder in OTB style (``img/`` + ``groundtruth_rect.txt``) or VOT style (``groundtruth.txt``
    with frames in ``color/``, ``imgs/``, ``img/`` or the folder itself; polygons become their bounding box)."""
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


def read_generic(root) -> list[Sequence]:
    """Every subfolder of ``root`` that holds a sequence (see :func:`read_folder_sequence`), sorted by name.
    ``root`` itself may also be a single sequence folder."""
    root = pathlib.Path(root)
    if (root / "groundtruth_rect.txt").is_file() or (root / "groundtruth.txt").is_file():
        return [read_folder_sequence(root)]
    return [read_folder_sequence(d) for d in sorted(root.iterdir())
            if d.is_dir() and ((d / "groundtruth_rect.txt").is_file() or (d / "groundtruth.txt").is_file())]


def read_vot(root) -> list[Sequence]:
    """A VOT dataset folder: ``list.txt`` naming the sequences (all sequence subfolders without it)."""
    root = pathlib.Path(root)
    if (root / "list.txt").is_file():
        names = [n.strip() for n in (root / "list.txt").read_text().splitlines() if n.strip()]
        return [read_folder_sequence(root / n, dataset="vot") for n in names]
    return [dataclasses.replace(s, dataset="vot") for s in read_generic(root)]


def read_video(path, init_box_xywh=None) -> list[Sequence]:
    """A video file as one sequence. Ground truth from ``<stem>.txt`` beside it if present, else only the given
    first-frame box (the other frames are then unannotated)."""
    import cv2

    path = pathlib.Path(path)
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
    return [Sequence(path.stem, "video", (), gt, video=str(path))]


def _benchmarks() -> dict[str, Callable]:
    from track import datasets_benchmarks as b

    return {
        "otb": b.read_otb, "uav": b.read_uav123, "uav10fps": b.read_uav123_10fps, "nfs": b.read_nfs,
        "lasot": b.read_lasot, "got10k_val": b.read_got10k_val, "got10k_test": b.read_got10k_test,
        "trackingnet": b.read_trackingnet,
    }


DATASET_NAMES = ("generic", "otb", "uav", "uav10fps", "nfs", "lasot", "got10k_val", "got10k_test",
                 "trackingnet", "vot", "video")


def load_dataset(name: str, root, sequences: list[str] | None = None) -> list[Sequence]:
    """Read dataset ``name`` (one of :data:`DATASET_NAMES`) from ``root``; optionally keep only ``sequences``."""
    root = pathlib.Path(root)
    if not root.exists():
        raise InputError(f"{root}: dataset root not found")
    readers = {"generic": read_generic, "vot": read_vot, "video": read_video, **_benchmarks()}
    if name not in readers:
        raise InputError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    seqs = readers[name](root)
    if sequences:
        by_name = {s.name: s for s in seqs}
        missing = [n for n in sequences if n not in by_name]
        if missing:
            raise InputError(f"sequences not in {name} at {root}: {', '.join(missing)}")
        seqs = [by_name[n] for n in sequences]
    if not seqs:
        raise InputError(f"no {name} sequences found in {root}")
    return seqs
