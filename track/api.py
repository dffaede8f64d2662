"""The ATOM tracker behind a small stateful interface (what the evaluation harness and the CLI use).

Three lines from Python::

    from track.api import make_tracker
    tracker = make_tracker()                 # built-in weights; or a path (.npz, pytracking .pth), overrides=, seed=
    tracker.initialize(first_frame_rgb, (x, y, w, h)); box_xywh = tracker.update(next_frame_rgb)

Frames are NumPy images ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA, uint8 (or float
0..255): grayscale becomes RGB, alpha is dropped. Boxes are ``(x, y, w, h)`` float64. All frames of a
sequence must have the size of the first (``InputError`` otherwise). Bad initial boxes raise ``InputError``
(see :func:`atom_jax.tracker.validate_init`). Each tracker compiles once per (config, frame size); compiled
functions are shared by all trackers of the process.

:func:`make_batch_tracker` advances ``B`` sequences in lockstep with one vmapped step. Frames of different
sizes are padded on the host (edge replication) to a shared canvas, a multiple of 128 pixels that only
grows; each slot keeps its own true frame size for the position clamp and the scale bounds. Padding changes
nothing for patches sampled without pre-downsampling; with it (targets larger than ~1/5 of the 288 patch at
scale 1.1 and beyond) border pixels of the padded area can differ from pytracking's replication by one
subsampled row/column.
"""

from __future__ import annotations

import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig, with_overrides
from atom_jax.errors import InputError

CANVAS_MULTIPLE = 128


@functools.lru_cache(maxsize=4)
def _load_cached(path: str):
    from atom_jax.weights import load_weights_with_meta, tracker_settings

    weights, meta = load_weights_with_meta(path)
    return weights, tracker_settings(meta)


def load_with_settings(weights_path=None) -> tuple[dict, dict]:
    """``(weights, settings)``: the weights (a path, a built-in name such as ``"demo"``, ``None`` for the
    default built-in weights, or a pytree passed through) and the tracker settings their file asks for."""
    if isinstance(weights_path, dict):
        return weights_path, {}
    from atom_jax.weights import resolve_path

    return _load_cached(str(pathlib.Path(resolve_path(weights_path)).resolve()))


def load(weights_path=None):
    """Weights from a path or built-in name (cached per process), or a weights pytree passed through."""
    return load_with_settings(weights_path)[0]


def as_rgb(image) -> np.ndarray:
    """A frame as ``(H, W, 3)``; grayscale is repeated, alpha dropped. Raises ``InputError`` otherwise."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise InputError(f"expected an image (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    if image.dtype != np.uint8:
        image = image.astype(np.float32)
    return np.ascontiguousarray(image)


class Tracker:
    """One sequence at a time: ``initialize(image, box_xywh)`` then ``update(image) -> box_xywh``.

    After each call ``last_aux`` holds the step's diagnostics as NumPy values (``max_score``, ``flag``, ...).
    """

    def __init__(self, weights, config: TrackerConfig, seed: int = 0):
        self.weights = weights
        self.config = config
        self.seed = int(seed)
        self.state = None
        self.frame_shape = None
        self.last_aux = None

    def initialize(self, image, box_xywh):
        image = as_rgb(image)
        box = atom.validate_init(image.shape, box_xywh)
        self.state = atom.init(self.weights, self.config, image, jnp.asarray(box, jnp.float32),
                               jax.random.PRNGKey(self.seed))
        self.frame_shape = image.shape
        self.last_aux = None
        return box.copy()

    def update(self, image) -> np.ndarray:
        if self.state is None:
            raise InputError("update() called before initialize()")
        image = as_rgb(image)
        if image.shape != self.frame_shape:
            raise InputError(f"frame size changed from {self.frame_shape[1]}x{self.frame_shape[0]} to "
                             f"{image.shape[1]}x{image.shape[0]} within the sequence")
        self.state, box, aux = atom.step(self.weights, self.config, self.state, image)
        self.last_aux = jax.tree_util.tree_map(np.asarray, aux)
        return np.asarray(box, np.float64)


def make_config(overrides: dict | None = None, settings: dict | None = None) -> TrackerConfig:
    """``TrackerConfig`` from the weights file's ``settings``, then ``overrides`` (name -> value); the key
    ``ablation`` selects one of :data:`atom_jax.config.ABLATIONS`, applied on top of the settings."""
    from atom_jax.config import ablation

    overrides = dict(overrides or {})
    name = overrides.pop("ablation", None)
    base = with_overrides(TrackerConfig(), settings or {})
    if name:
        base = ablation(name, base)
    return with_overrides(base, overrides)


def make_tracker(weights_path=None, overrides: dict | None = None, seed: int = 0) -> Tracker:
    """An ATOM :class:`Tracker`: ``weights_path`` a file, a built-in name or ``None`` (the built-in ``demo``
    weights); the file's tracker settings, then ``overrides`` (name -> value), change ``TrackerConfig``."""
    weights, settings = load_with_settings(weights_path)
    return Tracker(weights, make_config(overrides, settings), seed)


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


class BatchTracker:
    """``B`` slots tracked in lockstep: ``initialize(slot, image, box)``, ``update(images) -> (B, 4)``.

    ``images`` is a list of ``B`` frames, ``None`` for idle slots (their state is kept, their row is NaN).
    Each slot uses the same key as :class:`Tracker` with the same seed, so results match single runs.
    """

    def __init__(self, weights, config: TrackerConfig, seed: int, batch_size: int, update: str = "auto"):
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        if update not in atom.BATCH_UPDATES:
            raise InputError(f"batch update must be one of {atom.BATCH_UPDATES}, got {update!r}")
        self.weights, self.config, self.seed, self.batch_size = weights, config, int(seed), int(batch_size)
        self.update_mode = update  # how filter updates run over the slots: see atom_jax.tracker.step_batch
        self.states = None
        self.canvas_hw = (0, 0)
        self.frame_shapes = [None] * self.batch_size

    def _canvas(self, shapes):
        h = max([self.canvas_hw[0]] + [s[0] for s in shapes])
        w = max([self.canvas_hw[1]] + [s[1] for s in shapes])
        self.canvas_hw = (_round_up(h, CANVAS_MULTIPLE), _round_up(w, CANVAS_MULTIPLE))
        return self.canvas_hw

    def _pad(self, image, canvas_hw):
        h, w = image.shape[:2]
        return np.pad(image, ((0, canvas_hw[0] - h), (0, canvas_hw[1] - w), (0, 0)), mode="edge")

    def initialize(self, slot: int, image, box_xywh):
        if not 0 <= slot < self.batch_size:
            raise InputError(f"slot {slot} outside 0..{self.batch_size - 1}")
        image = as_rgb(image)
        box = atom.validate_init(image.shape, box_xywh)
        canvas = self._canvas([image.shape])
        valid_wh = jnp.asarray([image.shape[1], image.shape[0]], jnp.float32)
        state = atom.init(self.weights, self.config, self._pad(image, canvas), jnp.asarray(box, jnp.float32),
                          jax.random.PRNGKey(self.seed), valid_wh)
        if self.states is None:
            self.states = jax.tree_util.tree_map(lambda a: jnp.stack([a] * self.batch_size), state)
        else:
            self.states = _set_slot(self.states, state, slot)
        self.frame_shapes[slot] = image.shape
        return box.copy()

    def update(self, images) -> np.ndarray:
        if len(images) != self.batch_size:
            raise InputError(f"expected {self.batch_size} frames (None for idle slots), got {len(images)}")
        if self.states is None:
            raise InputError("update() called before any initialize()")
        frames = [None if im is None else as_rgb(im) for im in images]
        for slot, im in enumerate(frames):
            if im is not None and self.frame_shapes[slot] is None:
                raise InputError(f"slot {slot} got a frame before initialize()")
            if im is not None and im.shape != self.frame_shapes[slot]:
                raise InputError(f"slot {slot}: frame size {im.shape[1]}x{im.shape[0]} differs from its "
                                 f"first frame ({self.frame_shapes[slot]})")
        canvas = self._canvas([im.shape for im in frames if im is not None])
        batch = np.zeros((self.batch_size, canvas[0], canvas[1], 3), np.uint8)
        for slot, im in enumerate(frames):
            if im is not None:
                batch[slot] = self._pad(np.clip(im, 0, 255).astype(np.uint8), canvas)
        active = np.asarray([im is not None for im in frames])
        self.states, boxes, _ = atom.step_batch(self.weights, self.config, self.states, batch, active,
                                                   update=self.update_mode)
        out = np.asarray(boxes, np.float64)
        out[~active] = np.nan
        return out


@jax.jit
def _set_slot(states, state, slot):
    return jax.tree_util.tree_map(lambda b, s: b.at[slot].set(s), states, state)


def make_batch_tracker(weights_path=None, overrides: dict | None = None, seed: int = 0, batch_size: int = 1):
    """A :class:`BatchTracker` with ``batch_size`` slots (weights as :func:`make_tracker`)."""
    weights, settings = load_with_settings(weights_path)
    return BatchTracker(weights, make_config(overrides, settings), seed, batch_size)
