"""The one sequence type and the one dataset type that training and evaluation both read.

:class:`Sequence` (one annotated video, or one image's objects):
  * ``ground_truth_xywh`` is ``(N, 4)`` float64, one row per frame, boxes as the dataset gives them (OTB/UAV are
    1-based MATLAB pixel coordinates, VOT/GOT-10k/LaSOT 0-based; nobody shifts them, nor do we). Rows with no
    annotation (TrackingNet/GOT-10k test beyond frame 1, NaN lines) are NaN; ``0,0,0,0`` rows (target absent in
    some generic folders) stay as they are.
  * ``target_visible`` is ``(N,)`` bool or ``None``: the visibility the dataset annotates (LaSOT: no full
    occlusion and not out of view; GOT-10k: ``cover.label > 0`` and not absent; COCO: not a crowd). Metrics treat
    invisible frames as invalid; ``None`` means the dataset says nothing beyond its boxes.
  * :attr:`Sequence.visible` is what training samples from: a finite box with positive width and height, and
    ``target_visible`` where it is given.
  * ``regions`` keeps VOT's annotation (rectangles or polygons) for the reset-based protocol; ``None`` elsewhere.
    ``attributes`` holds other per-frame labels a dataset ships (e.g. LaSOT's ``full_occlusion``).
  * ``dataset`` is the key the metrics use for pytracking's dataset-specific rules ("uav", "lasot", ...).
  * Frames: image paths in ``frames``, or a ``video`` file, or a ``source`` function ``t -> image`` (synthetic
    sequences, tensorflow-datasets records). :meth:`Sequence.frame` gives frame ``t``, :meth:`Sequence.images`
    iterates; both decode to RGB ``uint8`` HWC.

:class:`Dataset`: named sequences read lazily (a sequence's files are read when it is first asked for, the last
few are cached), so a training worker can open LaSOT or TrackingNet without parsing every annotation.
``is_video`` is False for image datasets (COCO): there each "frame" is one object of the same image.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, Iterable, Iterator, Mapping

import numpy as np

from atom_jax.data import files
from atom_jax.errors import InputError


def valid_boxes(boxes_xywh: np.ndarray) -> np.ndarray:
    """Rows that are finite boxes with positive width and height, ``(N,)`` bool."""
    boxes_xywh = np.asarray(boxes_xywh, dtype=np.float64)
    return np.isfinite(boxes_xywh).all(1) & (boxes_xywh[:, 2] > 0) & (boxes_xywh[:, 3] > 0)


@dataclasses.dataclass(frozen=True, eq=False)
class Sequence:
    """One sequence (see the module docstring for the fields' conventions)."""

    name: str
    dataset: str
    frames: tuple[str, ...]
    ground_truth_xywh: np.ndarray
    target_visible: np.ndarray | None = None
    video: str | None = None
    regions: np.ndarray | None = None  # VOT's own annotation, (N, 4) rectangles or (N, 8) polygons
    source: Callable[[int], np.ndarray] | None = None  # frame t as RGB uint8, when frames are not files
    attributes: Mapping[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        gt = self.ground_truth_xywh
        if gt.ndim != 2 or gt.shape[1] != 4:
            raise InputError(f"sequence {self.name}: ground truth must be (N, 4), got {gt.shape}")
        if self.target_visible is not None and len(self.target_visible) != len(gt):
            raise InputError(f"sequence {self.name}: {len(self.target_visible)} visibility flags for "
                             f"{len(gt)} boxes")

    def __len__(self) -> int:
        return len(self.ground_truth_xywh) if (self.video or self.source) else len(self.frames)

    @property
    def init_box_xywh(self) -> np.ndarray:
        return self.ground_truth_xywh[0].copy()

    @property
    def visible(self) -> np.ndarray:
        """``(N,)`` bool: a valid box, and visible where the dataset says so (what training samples)."""
        vis = valid_boxes(self.ground_truth_xywh)
        return vis if self.target_visible is None else vis & np.asarray(self.target_visible, bool)

    def frame(self, t: int) -> np.ndarray:
        """Frame ``t`` (0-based) as RGB uint8 HWC (from a video: decoded from its start, so slow for late ``t``)."""
        if self.source is not None:
            return self.source(t)
        if self.video is not None:
            decoded = _video_frames(self.video, t, t + 1)
            try:
                return next(decoded)
            finally:
                decoded.close()  # release the capture now
        return files.read_image_rgb(self.frames[t])

    def images(self, start: int = 0, read_ahead: int = 3) -> Iterator[np.ndarray]:
        """Frames ``start, start + 1, ...`` as RGB uint8 HWC arrays, decoded ``read_ahead`` frames ahead in a
        background thread (0: decode on demand)."""
        if self.video is not None:
            frames = _video_frames(self.video, start, len(self))
        elif self.source is not None:
            frames = (self.source(t) for t in range(start, len(self)))
        else:
            frames = (files.read_image_rgb(path) for path in self.frames[start:])
        return files.read_ahead(frames, read_ahead)


def check_init_box(seq: Sequence) -> Sequence:
    """``seq`` if its first box can start a tracker, else an :class:`InputError` naming the sequence."""
    gt = seq.ground_truth_xywh
    if len(gt) == 0:
        raise InputError(f"sequence {seq.name}: no ground truth (a tracker needs a first-frame box)")
    if not np.all(np.isfinite(gt[0])) or np.any(gt[0, 2:] <= 0):
        raise InputError(f"sequence {seq.name}: first-frame box {gt[0].tolist()} is not a valid x,y,w,h box")
    return seq


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


class Dataset:
    """Sequences by name, loaded on demand by ``load(name) -> Sequence`` (the last ``cache`` are kept).

    ``len(ds)``, ``ds[i]`` (the ``i``-th name's sequence) and iteration in name order; :meth:`select` keeps a
    subset by name. ``name`` labels logs; ``is_video`` is False for image datasets.
    """

    def __init__(self, name: str, names: Iterable[str], load: Callable[[str], Sequence], is_video: bool = True,
                 cache: int = 64, root=None):
        self.name, self.is_video, self.root = name, is_video, root
        self.names = tuple(names)
        self._load, self._cache = load, cache
        self._cached = functools.lru_cache(maxsize=cache)(load) if cache else load

    def __len__(self) -> int:
        return len(self.names)

    def __getitem__(self, i: int) -> Sequence:
        return self._cached(self.names[i])

    def __iter__(self) -> Iterator[Sequence]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"Dataset({self.name!r}, {len(self)} sequences{f' in {self.root}' if self.root else ''})"

    def select(self, names: Iterable[str] | None = None, exclude: Iterable[str] | None = None) -> "Dataset":
        """The sequences named in ``names`` (in that order; all when empty) minus those in ``exclude``.

        A name that is not in the dataset, in either list, is an :class:`InputError` (a typo would otherwise
        silently change a training or validation split)."""
        names, exclude = list(names or ()), list(exclude or ())
        known = set(self.names)
        missing = [n for n in (*names, *exclude) if n not in known]
        if missing:
            where = f" at {self.root}" if self.root else ""
            raise InputError(f"sequences not in {self.name}{where}: {', '.join(missing)}")
        dropped = set(exclude)
        kept = [n for n in (names or self.names) if n not in dropped]
        return Dataset(self.name, kept, self._load, self.is_video, self._cache, self.root)
