"""ATOM's fixed-capacity training-sample memory (pytracking's ``init_memory`` / ``update_memory`` /
``update_sample_weights``), as pure functions on a :class:`SampleMemory` of fixed-size arrays.

Layout: ``samples`` (capacity, H, W, C) projected NHWC features, ``labels`` (capacity, H, W), ``weights``
(capacity,) summing to 1 (empty slots have weight 0, so they drop out of the classifier's weighted
residuals). The first ``num_init`` slots hold the first-frame samples.

Weight update for a new sample with learning rate ``lr`` (0.01 normally, 0.02 for hard negatives):
the slot to replace is the lowest-weight slot after the initial ones (the first such slot on ties); the first
insertion scales all weights by ``1 / (1 - lr)`` and gives the new slot weight ``lr``, later insertions give
the new slot the weight of the previously inserted slot divided by ``1 - lr``; then weights are
normalised and, if the initial samples together fall below ``init_samples_minimum_weight`` (0.25), they are
set to share exactly that total and the others are rescaled so that all sum to 1. An empty memory or
``lr == 1`` resets to a single sample with weight 1 in slot 0. ``init_samples_minimum_weight = 0`` disables
the floor and lets the initial samples be replaced too.

Everything is ``jit``- and ``vmap``-able: the learning rate may be a traced scalar, counters are int32
arrays, and "no previous insertion" is ``previous_replace == -1``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

CAPACITY = 250
LEARNING_RATE = 0.01
INIT_SAMPLES_MINIMUM_WEIGHT = 0.25


class SampleMemory(NamedTuple):
    samples: jax.Array  # (capacity, H, W, C)
    labels: jax.Array  # (capacity, H, W)
    weights: jax.Array  # (capacity,)
    num_init: jax.Array  # int32 scalar: slots [0, num_init) hold the first-frame samples
    num_stored: jax.Array  # int32 scalar: number of insertions so far, initial samples included
    previous_replace: jax.Array  # int32 scalar: slot of the last insertion, -1 if none yet


def init_memory(init_samples: jax.Array, init_labels: jax.Array, capacity: int = CAPACITY) -> SampleMemory:
    """A memory holding the ``N`` first-frame samples (N, H, W, C) and labels (N, H, W), each of weight 1/N."""
    n = init_samples.shape[0]
    if n > capacity:
        raise ValueError(f"{n} initial samples do not fit a memory of capacity {capacity}")
    samples = jnp.zeros((capacity,) + init_samples.shape[1:], init_samples.dtype).at[:n].set(init_samples)
    labels = jnp.zeros((capacity,) + init_labels.shape[1:], init_labels.dtype).at[:n].set(init_labels)
    weights = jnp.zeros((capacity,), init_samples.dtype).at[:n].set(1.0 / n)
    i32 = jnp.int32
    return SampleMemory(samples, labels, weights, jnp.asarray(n, i32), jnp.asarray(n, i32), jnp.asarray(-1, i32))


def set_init_samples(memory: SampleMemory, init_samples: jax.Array) -> SampleMemory:
    """Overwrite the first-frame slots (e.g. with samples re-projected after the first-frame optimisation)."""
    return memory._replace(samples=memory.samples.at[: init_samples.shape[0]].set(init_samples))


def update_weights(
    weights: jax.Array,
    previous_replace: jax.Array,
    num_stored: jax.Array,
    num_init: jax.Array,
    learning_rate: float | jax.Array = LEARNING_RATE,
    init_samples_minimum_weight: float = INIT_SAMPLES_MINIMUM_WEIGHT,
) -> tuple[jax.Array, jax.Array]:
    """pytracking's ``update_sample_weights`` for one feature: returns ``(new_weights, replace_index)``."""
    capacity = weights.shape[0]
    idx = jnp.arange(capacity)
    lr = jnp.asarray(learning_rate, weights.dtype)
    floor = init_samples_minimum_weight
    start = num_init if floor else 0
    candidates = jnp.where(idx >= start, weights, jnp.inf)
    replace = jnp.argmin(candidates).astype(jnp.int32)

    keep = 1 - lr
    safe_keep = jnp.where(keep == 0, 1, keep)
    first = (weights / safe_keep).at[replace].set(lr)
    later = weights.at[replace].set(weights[jnp.maximum(previous_replace, 0)] / safe_keep)
    new = jnp.where(previous_replace < 0, first, later)

    reset = (num_stored == 0) | (lr == 1)
    new = jnp.where(reset, (idx == 0).astype(weights.dtype), new)
    replace = jnp.where(reset, 0, replace).astype(jnp.int32)
    new = new / jnp.sum(new)

    if floor:
        is_init = idx < num_init
        init_total = jnp.sum(jnp.where(is_init, new, 0))
        rest_total = jnp.sum(jnp.where(is_init, 0, new))
        floored = jnp.where(is_init, floor / num_init, new / (floor + rest_total))
        new = jnp.where(init_total < floor, floored, new)
    return new, replace


def insert(
    memory: SampleMemory,
    sample: jax.Array,
    label: jax.Array,
    learning_rate: float | jax.Array = LEARNING_RATE,
    init_samples_minimum_weight: float = INIT_SAMPLES_MINIMUM_WEIGHT,
) -> tuple[SampleMemory, jax.Array]:
    """Insert one sample (H, W, C) with its label (H, W); returns ``(memory, replaced_slot)``."""
    weights, slot = update_weights(
        memory.weights,
        memory.previous_replace,
        memory.num_stored,
        memory.num_init,
        learning_rate,
        init_samples_minimum_weight,
    )
    memory = SampleMemory(
        samples=memory.samples.at[slot].set(sample),
        labels=memory.labels.at[slot].set(label),
        weights=weights,
        num_init=memory.num_init,
        num_stored=memory.num_stored + 1,
        previous_replace=slot,
    )
    return memory, slot
