"""OpenCV trackers that need no model files (CSRT, KCF, MIL from opencv-contrib), a static-box baseline, and
the tracker factory.

Every tracker of the evaluation harness has the interface ``track/api.py`` defines for ATOM:
``initialize(image_rgb_uint8_hwc, box_xywh) -> None`` and ``update(image) -> np.ndarray`` (4 floats, x,y,w,h).
A batch tracker has ``initialize(slot, image, box_xywh)`` and ``update(images) -> (B, 4)`` where idle slots
are ``None`` (their rows are ignored). :class:`SequentialBatch` makes a batch tracker out of B single ones, so
``--batch`` works with every tracker; ATOM brings a vmapped one (``make_batch_tracker``).
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from atom_jax.errors import InputError

OPENCV_TRACKERS = {"csrt": "TrackerCSRT_create", "kcf": "TrackerKCF_create", "mil": "TrackerMIL_create"}
TRACKER_NAMES = ("atom", *OPENCV_TRACKERS, "static")


class OpenCVTracker:
    """An OpenCV tracker behind the harness interface. OpenCV wants integer boxes and BGR images; when it
    reports a failure the previous box is kept."""

    def __init__(self, name: str):
        import cv2

        self.name = name
        self._create = getattr(cv2, OPENCV_TRACKERS[name])
        self._tracker = None
        self._box = None

    def initialize(self, image, box_xywh) -> None:
        import cv2

        box = np.asarray(box_xywh, dtype=np.float64)
        self._box = box.copy()
        self._tracker = self._create()
        x, y, w, h = (int(round(v)) for v in box)
        self._tracker.init(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR),
                           (x, y, max(w, 1), max(h, 1)))

    def update(self, image) -> np.ndarray:
        import cv2

        ok, box = self._tracker.update(cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR))
        if ok and box[2] > 0 and box[3] > 0:
            self._box = np.asarray(box, dtype=np.float64)
        return self._box.copy()


class StaticTracker:
    """Reports the initial box in every frame: the floor any tracker must beat, and a fast stand-in in tests.
    ``delay_s`` (``--set delay_s=0.01``) sleeps that long per frame, to imitate a slow tracker."""

    def __init__(self, delay_s: float = 0.0):
        self.delay_s = float(delay_s)
        self._box = None

    def initialize(self, image, box_xywh) -> None:
        self._box = np.asarray(box_xywh, dtype=np.float64).copy()

    def update(self, image) -> np.ndarray:
        if self.delay_s:
            time.sleep(self.delay_s)
        return self._box.copy()


class SequentialBatch:
    """B independent single trackers behind the batch interface (no speed-up; for uniform code paths)."""

    def __init__(self, make_one, batch_size: int):
        self._trackers = [make_one() for _ in range(batch_size)]
        self.batch_size = batch_size

    def initialize(self, slot: int, image, box_xywh) -> None:
        self._trackers[slot].initialize(image, box_xywh)

    def update(self, images) -> np.ndarray:
        out = np.full((self.batch_size, 4), np.nan)
        for slot, image in enumerate(images):
            if image is not None:
                out[slot] = self._trackers[slot].update(image)
        return out


def _atom_api():
    try:
        return importlib.import_module("track.api")
    except ModuleNotFoundError as err:
        if err.name in ("track.api",):
            raise InputError("tracker 'atom' is not available: track/api.py (the ATOM tracker) is missing") from err
        raise


def make_tracker(name: str, weights=None, overrides: dict | None = None, seed: int = 0):
    """A single-sequence tracker by name (``atom``, ``csrt``, ``kcf``, ``mil``)."""
    if name in OPENCV_TRACKERS:
        if overrides:
            raise InputError(f"tracker {name!r} takes no --set options (got {', '.join(overrides)})")
        return OpenCVTracker(name)
    if name == "atom":
        return _atom_api().make_tracker(weights, dict(overrides or {}), seed)
    if name == "static":
        unknown = set(overrides or {}) - {"delay_s"}
        if unknown:
            raise InputError(f"tracker 'static' takes only --set delay_s=SECONDS (got {', '.join(sorted(unknown))})")
        return StaticTracker(**(overrides or {}))
    raise InputError(f"unknown tracker {name!r}; choose one of {', '.join(TRACKER_NAMES)}")


def make_batch_tracker(name: str, weights=None, overrides: dict | None = None, seed: int = 0,
                       batch_size: int = 1, devices: int | None = None):
    """A batch tracker: ATOM's vmapped one (slots sharded over ``devices`` local devices, default
    min(local devices, batch_size)), or :class:`SequentialBatch` over the OpenCV trackers."""
    if name == "atom":
        return _atom_api().make_batch_tracker(weights, dict(overrides or {}), seed, batch_size, devices)
    make_tracker(name, weights, overrides, seed)  # validates the name and options
    return SequentialBatch(lambda: make_tracker(name, weights, overrides, seed), batch_size)
