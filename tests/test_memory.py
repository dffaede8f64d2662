"""Tests of atom_jax.memory against a NumPy replay of pytracking's sample-weight update (float64)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import memory


def _np_update(sw, prev, num_stored, num_init, lr, floor):
    """pytracking's update_sample_weights for one feature, re-written in NumPy (own code)."""
    sw = sw.copy()
    start = num_init if floor else 0
    if num_stored == 0 or lr == 1:
        sw[:] = 0
        sw[0] = 1
        r = 0
    else:
        r = int(np.argmin(sw[start:])) + start
        if prev is None:
            sw /= 1 - lr
            sw[r] = lr
        else:
            sw[r] = sw[prev] / (1 - lr)
    sw /= sw.sum()
    if floor and sw[:num_init].sum() < floor:
        sw /= floor + sw[num_init:].sum()
        sw[:num_init] = floor / num_init
    return sw, r


@pytest.mark.parametrize("floor", [0.25, 0.0])
def test_weight_updates_match_numpy_replay_beyond_capacity(floor):
    capacity, num_init, steps = 250, 30, 300  # ATOM sizes; 300 > 220 free slots
    lrs = np.where(np.arange(steps) % 7 == 3, 0.02, 0.01)  # some hard-negative learning rates
    with jax.enable_x64(True):
        mem = memory.init_memory(jnp.zeros((num_init, 2, 2, 3)), jnp.zeros((num_init, 2, 2)), capacity)
        step = jax.jit(lambda m, lr: memory.insert(m, jnp.ones((2, 2, 3)), jnp.ones((2, 2)), lr, floor))
        sw = np.zeros(capacity)
        sw[:num_init] = 1 / num_init
        prev, stored = None, num_init
        for lr in lrs:
            sw, r = _np_update(sw, prev, stored, num_init, lr, floor)
            prev, stored = r, stored + 1
            mem, slot = step(mem, lr)
            assert int(slot) == r
            np.testing.assert_allclose(np.asarray(mem.weights), sw, rtol=1e-12, atol=1e-15)
        init_total = float(jnp.sum(mem.weights[:num_init]))
    assert int(mem.num_stored) == num_init + steps
    if floor:  # after ~150 updates the floor holds the initial samples at exactly 0.25 in total
        np.testing.assert_allclose(init_total, floor, rtol=1e-9)
    else:
        assert init_total < 0.2  # without the floor they keep fading


def test_insert_writes_sample_and_label_and_reset_cases():
    x0 = jnp.arange(3 * 2 * 2 * 1, dtype=jnp.float32).reshape(3, 2, 2, 1)
    mem = memory.init_memory(x0, jnp.ones((3, 2, 2)), capacity=5)
    np.testing.assert_allclose(mem.weights, [1 / 3, 1 / 3, 1 / 3, 0, 0], rtol=1e-6)
    mem, slot = memory.insert(mem, jnp.full((2, 2, 1), 7.0), jnp.full((2, 2), 0.5))
    assert int(slot) == 3 and int(mem.previous_replace) == 3
    np.testing.assert_array_equal(mem.samples[3], 7.0)
    np.testing.assert_array_equal(mem.labels[3], 0.5)
    np.testing.assert_array_equal(mem.samples[:3], x0)
    np.testing.assert_allclose(float(jnp.sum(mem.weights)), 1.0, rtol=1e-6)
    # learning rate 1 resets to one sample of weight 1 in slot 0
    w, r = memory.update_weights(mem.weights, mem.previous_replace, mem.num_stored, mem.num_init, 1.0)
    np.testing.assert_allclose(w, [1, 0, 0, 0, 0])
    assert int(r) == 0
    mem2 = memory.set_init_samples(mem, jnp.zeros((3, 2, 2, 1)))
    np.testing.assert_array_equal(mem2.samples[:3], 0.0)
    with pytest.raises(ValueError, match="capacity"):
        memory.init_memory(jnp.zeros((6, 1, 1, 1)), jnp.zeros((6, 1, 1)), capacity=5)


def test_vmap_over_memories_equals_single_runs():
    mems = [memory.init_memory(jnp.zeros((4, 2, 2, 1)), jnp.zeros((4, 2, 2)), 12) for _ in range(3)]
    lrs = jnp.array([[0.01, 0.02, 0.01, 0.01, 0.5], [0.02, 0.02, 0.02, 0.01, 0.01], [1.0, 0.01, 0.01, 0.01, 0.01]])
    batched = jax.tree_util.tree_map(lambda *a: jnp.stack(a), *mems)
    vstep = jax.jit(jax.vmap(lambda m, lr, v: memory.insert(m, jnp.full((2, 2, 1), v), jnp.zeros((2, 2)), lr)[0]))
    for t in range(lrs.shape[1]):
        batched = vstep(batched, lrs[:, t], jnp.arange(3.0) + t)
        mems = [memory.insert(m, jnp.full((2, 2, 1), b + t), jnp.zeros((2, 2)), lrs[b, t])[0] for b, m in enumerate(mems)]
    for b, m in enumerate(mems):
        for got, want in zip(jax.tree_util.tree_leaves(batched), jax.tree_util.tree_leaves(m)):
            np.testing.assert_allclose(got[b], want, rtol=1e-6)
