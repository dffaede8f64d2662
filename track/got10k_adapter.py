"""The got10k toolkit (PyPI ``got10k``) over this project's trackers and datasets.

A tracker of the harness as a got10k tracker::

    from got10k.experiments import ExperimentGOT10k
    from track.got10k_adapter import Got10kTracker

    tracker = Got10kTracker("atom", weights="atom.npz")          # or "csrt", "kcf", "mil"
    ExperimentGOT10k("/data/GOT-10k", subset="val", result_dir="/abs/results").run(tracker)

Any dataset ``atom-jax eval`` reads, through the toolkit's OTB or VOT experiment, without its download
(``ExperimentOTB``'s constructor always downloads OTB; ``ExperimentVOT``'s unless the folder looks complete)::

    from atom_jax.data.registry import load_dataset
    from track.got10k_adapter import Got10kTracker, otb_experiment, vot_experiment

    sequences = load_dataset("generic", "path/to/sequences")
    exp = otb_experiment(sequences, "results", "reports")         # success / precision (OPE)
    exp.run(Got10kTracker("kcf")); exp.report(["KCF"])             # records: results/KCF/<seq>.txt
    exp = vot_experiment(sequences, "results", "reports", experiments="supervised")
    exp.repetitions = 3; exp.run(tracker); exp.report([tracker.name])   # accuracy, robustness

The toolkit hands PIL images (RGB, or other modes converted here) and boxes ``x, y, w, h``; its ``track`` loop
calls ``init`` on the first frame and ``update`` on the others.
"""

from __future__ import annotations

import os

import numpy as np

from atom_jax.errors import InputError
from track import baselines

try:  # the toolkit is an optional (test) dependency
    from got10k.trackers import Tracker as _Got10kBase
except ImportError:  # pragma: no cover - exercised only without got10k
    _Got10kBase = object

_MISSING = "the got10k toolkit is not installed (pip install got10k six)"


class Got10kTracker(_Got10kBase):
    """``got10k.trackers.Tracker`` wrapping :func:`track.baselines.make_tracker`."""

    def __init__(self, tracker: str = "atom", weights=None, overrides: dict | None = None, seed: int = 0,
                 name: str | None = None):
        if _Got10kBase is object:
            raise ImportError(_MISSING)
        deterministic = tracker in baselines.OPENCV_TRACKERS or tracker == "static"
        super().__init__(name=name or tracker.upper(), is_deterministic=deterministic)
        self._args = (tracker, weights, dict(overrides or {}), seed)
        self._tracker = None

    @staticmethod
    def _rgb(image) -> np.ndarray:
        if getattr(image, "mode", "RGB") != "RGB":
            image = image.convert("RGB")
        return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))

    def init(self, image, box):
        self._tracker = baselines.make_tracker(*self._args)
        self._tracker.initialize(self._rgb(image), np.asarray(box, dtype=np.float64))

    def update(self, image):
        return np.asarray(self._tracker.update(self._rgb(image)), dtype=np.float64)


class LocalDataset:
    """Sequences of :func:`atom_jax.data.registry.load_dataset` in the shape the toolkit's experiments read a dataset:
    ``seq_names``, ``len``, and items ``(img_files, anno)`` (with ``meta=True``: ``(img_files, anno, meta)``, the
    VOT experiment's form, with VOT polygons as ``anno`` where the dataset has them and no attribute tags).
    Items are looked up by index or by name, as the toolkit does."""

    def __init__(self, sequences, meta: bool = False):
        videos = [s.name for s in sequences if s.video]
        if videos:
            raise InputError(f"the got10k toolkit reads image files; {', '.join(videos)} is a video")
        self.sequences, self.meta = list(sequences), meta
        self.seq_names = [s.name for s in self.sequences]

    def __len__(self) -> int:
        return len(self.sequences)

    def __getitem__(self, index):
        seq = self.sequences[self.seq_names.index(index) if isinstance(index, str) else index]
        if self.meta:
            anno = seq.regions if seq.regions is not None else seq.ground_truth_xywh
            return list(seq.frames), np.array(anno, dtype=np.float64), {}
        return list(seq.frames), seq.ground_truth_xywh.copy()

    @staticmethod
    def _corner2rect(corners, center: bool = False) -> np.ndarray:
        """What the toolkit's VOT dataset gives a rectangle-only tracker for a polygon (pytracking's
        area-preserving box)."""
        from atom_jax.data.folders import polygon_to_xywh

        boxes = polygon_to_xywh(np.asarray(corners, dtype=np.float64), mode="preserve_area")
        if center:
            boxes[:, :2] += boxes[:, 2:] / 2
        return boxes


def otb_experiment(sequences, result_dir="results", report_dir="reports"):
    """The toolkit's ``ExperimentOTB`` (OPE success and precision) over ``sequences``, with no download. Records go
    to ``<result_dir>/<tracker name>/<seq>.txt``, a results folder ``atom-jax score`` reads as it is."""
    try:
        from got10k.experiments import ExperimentOTB
    except ImportError:
        raise ImportError(_MISSING) from None
    exp = ExperimentOTB.__new__(ExperimentOTB)  # its __init__ downloads OTB; these are the fields it sets
    exp.dataset = LocalDataset(sequences)
    exp.result_dir, exp.report_dir = os.path.abspath(result_dir), os.path.abspath(report_dir)
    exp.nbins_iou, exp.nbins_ce = 21, 51
    return exp


def vot_experiment(sequences, result_dir="results", report_dir="reports", experiments=("supervised",)):
    """The toolkit's ``ExperimentVOT`` (``supervised``: reset-based accuracy and robustness; ``unsupervised``;
    ``realtime``) over ``sequences``, with no download and the toolkit's defaults (15 repetitions: set
    ``exp.repetitions``). Under NumPy 2 the toolkit needs ``np.NaN`` (restored here as an alias of ``np.nan``)
    and per-frame overlaps as plain floats (``_calc_iou`` below)."""
    try:
        from got10k.experiments import ExperimentVOT
        from got10k.utils.metrics import poly_iou
    except ImportError:
        raise ImportError(_MISSING) from None
    if not hasattr(np, "NaN"):
        np.NaN = np.nan  # the toolkit's spelling, removed in NumPy 2

    class LocalExperimentVOT(ExperimentVOT):
        def __init__(self):  # ExperimentVOT.__init__ downloads VOT; these are the fields it sets
            self.dataset = LocalDataset(sequences, meta=True)
            self.experiments = (experiments,) if isinstance(experiments, str) else tuple(experiments)
            self.read_image = True
            self.result_dir, self.report_dir = os.path.abspath(result_dir), os.path.abspath(report_dir)
            self.skip_initialize, self.burnin, self.repetitions = 5, 10, 15
            self.sensitive, self.nbins_eao = 100, 1500
            self.tags = ["camera_motion", "illum_change", "occlusion", "size_change", "motion_change", "empty"]

        def _calc_iou(self, boxes, anno, bound, burnin=False):
            """Per-frame overlap (NaN on the special lines ``[0]``, ``[1]``, ``[2]``), as the toolkit's own
            method, returning floats."""
            boxes = list(boxes)
            if burnin:
                for start in [i for i, b in enumerate(boxes) if b == [1.0]]:
                    boxes[start:start + self.burnin] = [[0]] * len(boxes[start:start + self.burnin])
            return np.array([float(poly_iou(np.array(b), a, bound)[0]) if len(b) > 1 else np.nan
                             for b, a in zip(boxes, anno)])

    unknown = set(LocalExperimentVOT().experiments) - {"supervised", "unsupervised", "realtime"}
    if unknown:
        raise InputError(f"unknown VOT experiment {', '.join(sorted(unknown))} (supervised, unsupervised, realtime)")
    return LocalExperimentVOT()
