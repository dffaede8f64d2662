"""Ahead-of-time compiled tracker functions, so compile time is measured apart from run time.

:func:`compile_tracker` lowers and compiles :func:`atom_jax.tracker.init` and :func:`~atom_jax.tracker.step`
for one (config, frame shape) and returns callables over the dynamic arguments only, plus the seconds each
compilation took. Used by ``atom-jax track`` and ``atom-jax bench``; the library's jitted functions compile
the same programs lazily on first call.
"""

from __future__ import annotations

import time
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig


class CompiledTracker(NamedTuple):
    init: Callable  # (weights, image, box_xywh float32 (4,), key) -> state (with init_aux: (state, aux))
    step: Callable  # (weights, state, image) -> (state, box_xywh, aux)
    compile_seconds: dict  # {"init": s, "step": s}


def compile_tracker(weights, config: TrackerConfig, frame_shape, dtype=np.uint8, init_aux: bool = False
                    ) -> CompiledTracker:
    """Compile init and step for frames of ``frame_shape`` (H, W, 3); ``init_aux``: init also returns its aux
    (the first-frame optimisation's statistics, :func:`atom_jax.tracker.init`)."""
    image = jax.ShapeDtypeStruct(tuple(frame_shape), jnp.dtype(dtype))
    box = jax.ShapeDtypeStruct((4,), jnp.float32)
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    init_c = atom.init.lower(weights, config, image, box, key, with_aux=init_aux).compile()
    t1 = time.perf_counter()
    state = jax.eval_shape(lambda w, im, b, k: atom.init(w, config, im, b, k), weights, image, box, key)
    step_c = atom.step.lower(weights, config, state, image).compile()
    t2 = time.perf_counter()
    return CompiledTracker(init_c, step_c, {"init": t1 - t0, "step": t2 - t1})


def timing_stats(init_seconds: float, step_seconds, compile_seconds: dict) -> dict:
    """Summary dict of a run: initialisation, per-frame mean/median (ms), frames/s, compile times."""
    steps = np.asarray(step_seconds, np.float64)
    return {
        "frames": int(len(steps) + 1),
        "init_seconds": float(init_seconds),
        "per_frame_mean_ms": float(steps.mean() * 1e3) if len(steps) else None,
        "per_frame_median_ms": float(np.median(steps) * 1e3) if len(steps) else None,
        "fps": float(len(steps) / steps.sum()) if len(steps) and steps.sum() > 0 else None,
        "compile_seconds": {k: float(v) for k, v in compile_seconds.items()},
    }
