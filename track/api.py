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
grows; each slot keeps its own true frame size, which the patch sampling (border replication, the
pre-downsampling grid), the position clamp and the scale bounds use, so the canvas beyond a frame is never
read and a slot tracks as the single tracker does. The slots are sharded over the local devices
(:mod:`track.devices`).
"""

from __future__ import annotations

import functools
import pathlib

import jax
import numpy as np

from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig, with_overrides
from atom_jax.errors import InputError
from atom_jax.optimizers import init_log_record, log_record
from track import devices

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


def prepare(weights_path=None, overrides: dict | None = None) -> tuple[dict, TrackerConfig]:
    """``(weights, config)`` for the tracker: the weights (as :func:`load_with_settings`) and the config from
    their file's settings and ``overrides`` (:func:`make_config`), checked against each other so that a file
    missing a part or holding another backbone is a one-line ``InputError`` naming the file and the part."""
    weights, settings = load_with_settings(weights_path)
    config = make_config(overrides, settings)
    check_weights_for(weights, config, "the weights" if isinstance(weights_path, dict) else
                      str(weights_path if weights_path is not None else "built-in weights 'demo'"))
    return weights, config


def check_weights_for(weights: dict, config: TrackerConfig, source: str) -> None:
    """``InputError`` unless ``weights`` hold what ``config`` runs: the backbone it names and, with the IoU-Net,
    a head whose input channels are those of ``config.iou_layers``."""
    from atom_jax import backbones
    from atom_jax.iou_net import dims

    needed = ["backbone"] + (["iou_net"] if config.use_iou_net else [])
    missing = [part for part in needed if part not in weights]
    if missing:
        raise InputError(f"{source}: has no {' and no '.join(repr(m) for m in missing)} weights (it holds "
                         f"{sorted(weights)}); the tracker needs {' and '.join(needed)}: write a complete file with "
                         f"`atom-jax convert`, or give one with every part")
    held = backbones.identify(weights["backbone"])
    if held != config.backbone:
        raise InputError(f"{source}: holds a {held} backbone but the tracker is set to backbone={config.backbone} "
                         f"(--set backbone=... classifier_layer=... iou_layers=...)")
    if config.use_iou_net:
        bb = backbones.get(config.backbone)
        want = tuple(bb.channels(name) for name in config.iou_layers)
        got = dims(weights["iou_net"])["input_dim"]
        if got != want:
            raise InputError(f"{source}: its IoU-Net takes {got} input channels, but iou_layers={config.iou_layers} "
                             f"of {config.backbone} give {want}")


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

    ``initialize`` returns once the device has finished (so its time is the initialisation's, not dispatch's);
    ``update`` uploads the frame explicitly and fetches only the box (the one host sync of a frame; with
    ``log_optimizer`` the frame's optimizer statistics come in the same fetch and are appended to
    ``optimizer_log``, one :func:`atom_jax.optimizers.log_record` per frame, the first frame's
    :func:`~atom_jax.optimizers.init_log_record` first). ``last_aux`` gives the last step's diagnostics as
    NumPy values (``max_score``, ``flag``, ``optimizer``, ...), ``init_aux`` the first frame's (the
    first-frame optimisation's statistics), each fetched when it is read.
    """

    def __init__(self, weights, config: TrackerConfig, seed: int = 0, log_optimizer: bool = False):
        self.weights = jax.device_put(weights)
        self.config = config
        self.seed = int(seed)
        self.state = None
        self.frame_shape = None
        self._aux = self._init_aux = None
        self.log_optimizer = bool(log_optimizer)
        self.optimizer_log = []

    @property
    def last_aux(self):
        return _fetched(self._aux)

    @property
    def init_aux(self):
        return _fetched(self._init_aux)

    def initialize(self, image, box_xywh):
        image = as_rgb(image)
        box = atom.validate_init(image.shape, box_xywh)
        self.state, self._init_aux = atom.init(self.weights, self.config, jax.device_put(image),
                                               jax.device_put(np.asarray(box, np.float32)),
                                               jax.random.PRNGKey(self.seed), with_aux=True)
        jax.block_until_ready(self.state)
        self.frame_shape = image.shape
        self._aux = None
        self.optimizer_log = [init_log_record(self.init_aux)] if self.log_optimizer else []
        return box.copy()

    def update(self, image) -> np.ndarray:
        if self.state is None:
            raise InputError("update() called before initialize()")
        image = as_rgb(image)
        if image.shape != self.frame_shape:
            raise InputError(f"frame size changed from {self.frame_shape[1]}x{self.frame_shape[0]} to "
                             f"{image.shape[1]}x{image.shape[0]} within the sequence")
        self.state, box, self._aux = atom.step(self.weights, self.config, self.state, jax.device_put(image))
        if not self.log_optimizer:
            return devices.fetch_boxes(box)
        box, stats = devices.fetch_boxes(box, self._aux["optimizer"])
        self.optimizer_log.append(log_record(len(self.optimizer_log), int(stats["update"]), stats))
        return box


def _fetched(aux):
    return None if aux is None else jax.tree_util.tree_map(np.asarray, jax.device_get(aux))


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


def make_tracker(weights_path=None, overrides: dict | None = None, seed: int = 0, optimizer=None,
                 log_optimizer: bool = False) -> Tracker:
    """An ATOM :class:`Tracker`: ``weights_path`` a file, a built-in name or ``None`` (the built-in ``demo``
    weights); the file's tracker settings, then ``overrides`` (name -> value), change ``TrackerConfig``.
    ``optimizer``: the online learner's optimizer instead of the config's, a function
    ``(residual_fn, params, state) -> (params, state, stats)``, an ``optax.GradientTransformation`` or a dict
    ``{"first_frame": ..., "update": ...}`` of those (:func:`atom_jax.optimizers.user_optimizer`)."""
    weights, config = prepare(weights_path, overrides)
    return Tracker(weights, with_optimizer(config, optimizer), seed, log_optimizer)


def with_optimizer(config: TrackerConfig, optimizer=None) -> TrackerConfig:
    """``config`` running a user's ``optimizer`` (see :func:`make_tracker`), or unchanged for ``None``. The
    config holds it wrapped (hashable by identity): reuse one wrapped optimizer to share compilations."""
    import dataclasses

    from atom_jax.optimizers import user_optimizer

    if optimizer is None:
        return config
    return dataclasses.replace(config, optimizer=user_optimizer(optimizer))


def _round_up(n: int, m: int) -> int:
    return -(-n // m) * m


class BatchTracker:
    """``B`` sequences in lockstep: ``initialize(slot, image, box)``, ``update(images) -> (B, 4)``.

    ``images`` is a list of ``B`` frames, ``None`` for idle slots (their state is kept, their row is NaN).
    Each slot uses the same key as :class:`Tracker` with the same seed, so results match single runs.
    The slots are sharded over ``num_devices`` local devices (default: ``min(local devices, B)``;
    :mod:`track.devices`); ``B`` is rounded up to a multiple of the device count with slots that stay idle
    (``num_slots``). ``last_aux``: the last step's diagnostics per slot (``num_slots`` rows), fetched when read.
    ``log_optimizer``: as :class:`Tracker`, per slot in ``optimizer_logs[slot]`` (restarted by the slot's
    ``initialize``).
    """

    def __init__(self, weights, config: TrackerConfig, seed: int, batch_size: int, update: str = "auto",
                 num_devices: int | None = None, log_optimizer: bool = False):
        if batch_size < 1:
            raise InputError(f"batch size must be >= 1, got {batch_size}")
        if update not in atom.BATCH_UPDATES:
            raise InputError(f"batch update must be one of {atom.BATCH_UPDATES}, got {update!r}")
        self.mesh = devices.local_mesh(num_devices, batch_size)
        self.config, self.seed, self.batch_size = config, int(seed), int(batch_size)
        self.num_slots = devices.num_slots(batch_size, self.mesh)
        self.weights = devices.replicate(weights, self.mesh)
        self.update_mode = update  # how filter updates run over the slots: see atom_jax.tracker.step_batch
        self._step = devices.sharded_step(self.mesh, config, update)
        self.states = None
        self.canvas_hw = (0, 0)
        self.frame_shapes = [None] * self.batch_size
        self._aux = None
        self.log_optimizer = bool(log_optimizer)
        self.optimizer_logs = [[] for _ in range(self.batch_size)]

    @property
    def last_aux(self):
        return _fetched(self._aux)

    def _canvas(self, shapes):
        h = max([self.canvas_hw[0]] + [s[0] for s in shapes])
        w = max([self.canvas_hw[1]] + [s[1] for s in shapes])
        self.canvas_hw = (_round_up(h, CANVAS_MULTIPLE), _round_up(w, CANVAS_MULTIPLE))
        return self.canvas_hw

    def _pad(self, image, canvas_hw):
        h, w = image.shape[:2]
        return np.pad(image, ((0, canvas_hw[0] - h), (0, canvas_hw[1] - w), (0, 0)), mode="edge")

    def initialize(self, slot: int, image, box_xywh):
        """Start a sequence in ``slot``; returns once the device has finished."""
        if not 0 <= slot < self.batch_size:
            raise InputError(f"slot {slot} outside 0..{self.batch_size - 1}")
        image = as_rgb(image)
        box = atom.validate_init(image.shape, box_xywh)
        canvas = self._canvas([image.shape])
        device = self.mesh.devices.flat[0]  # inits run on one device: compiled once (see track.devices)
        args = (self._pad(image, canvas), np.asarray(box, np.float32),
                np.asarray([image.shape[1], image.shape[0]], np.float32), np.asarray(jax.random.PRNGKey(self.seed)))
        image_d, box_d, valid_wh, key = jax.device_put(args, device)
        state, init_aux = atom.init(devices.on_device(self.weights, device), self.config, image_d, box_d, key,
                                    valid_wh, with_aux=True)
        self.optimizer_logs[slot] = [init_log_record(_fetched(init_aux))] if self.log_optimizer else []
        if self.states is None:
            self.states = devices.broadcast_state(state, self.num_slots, self.mesh)
        else:
            self.states = devices.put_slot(self.states, state, slot, self.mesh)
        jax.block_until_ready(self.states)
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
        batch = np.zeros((self.num_slots, canvas[0], canvas[1], 3), np.uint8)
        active = np.zeros(self.num_slots, bool)
        for slot, im in enumerate(frames):
            if im is not None:
                batch[slot] = self._pad(np.clip(im, 0, 255).astype(np.uint8), canvas)
                active[slot] = True
        batch_d, active_d = jax.device_put((batch, active), devices.batch_sharding(self.mesh))
        self.states, boxes, self._aux = self._step(self.weights, self.states, batch_d, active_d)
        if self.log_optimizer:
            out, stats = devices.fetch_boxes(boxes, self._aux["optimizer"])
            for slot in np.flatnonzero(active[:self.batch_size]):
                row = {k: v[slot] for k, v in stats.items()}
                log = self.optimizer_logs[slot]
                log.append(log_record(len(log), int(row["update"]), row))
            out = out[:self.batch_size]
        else:
            out = devices.fetch_boxes(boxes)[:self.batch_size]
        out[~active[:self.batch_size]] = np.nan
        return out


def make_batch_tracker(weights_path=None, overrides: dict | None = None, seed: int = 0, batch_size: int = 1,
                       num_devices: int | None = None, optimizer=None, log_optimizer: bool = False):
    """A :class:`BatchTracker` with ``batch_size`` slots over ``num_devices`` local devices (default:
    min(local devices, batch_size)); weights, ``optimizer`` and ``log_optimizer`` as :func:`make_tracker`."""
    weights, config = prepare(weights_path, overrides)
    return BatchTracker(weights, with_optimizer(config, optimizer), seed, batch_size, num_devices=num_devices,
                        log_optimizer=log_optimizer)
