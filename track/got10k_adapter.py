"""Any tracker of the harness as a tracker of the got10k toolkit (PyPI ``got10k``).

    from got10k.experiments import ExperimentGOT10k
    from track.got10k_adapter import Got10kTracker

    tracker = Got10kTracker("atom", weights="atom.npz")          # or "csrt", "kcf", "mil"
    ExperimentGOT10k("/data/GOT-10k", subset="val", result_dir="/abs/results").run(tracker)

The toolkit hands PIL images (RGB, or other modes converted here) and boxes ``x, y, w, h``; its ``track`` loop
calls ``init`` on the first frame and ``update`` on the others.
"""

from __future__ import annotations

import numpy as np

from track import baselines

try:  # the toolkit is an optional (test) dependency
    from got10k.trackers import Tracker as _Got10kBase
except ImportError:  # pragma: no cover - exercised only without got10k
    _Got10kBase = object


class Got10kTracker(_Got10kBase):
    """``got10k.trackers.Tracker`` wrapping :func:`track.baselines.make_tracker`."""

    def __init__(self, tracker: str = "atom", weights=None, overrides: dict | None = None, seed: int = 0,
                 name: str | None = None):
        if _Got10kBase is object:
            raise ImportError("the got10k toolkit is not installed (pip install got10k six)")
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
