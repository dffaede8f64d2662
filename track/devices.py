"""Batch tracking over the local devices: a 1-D mesh on the batch axis, each device tracking its own slots.

The slots of a :class:`track.api.BatchTracker` are split into equal consecutive blocks, one per device
(``NamedSharding(mesh, P("batch"))`` for the states, the frames, the ``active`` mask and the outputs; the
weights are replicated). :func:`sharded_step` runs :func:`atom_jax.tracker.step_batch` under ``shard_map``
on each device's block, so the devices never talk to each other: whether a filter update is due, and for
which slots, is decided per device, and a slot's result does not depend on how many devices there are
(up to the summation order of XLA's batched kernels, see ``tests/test_scale.py``). A sequence's first frame
(:func:`atom_jax.tracker.init`) runs on the mesh's first device (a jitted function compiles once per device
it runs on, and inits are one after the other anyway: the runner waits for each); :func:`put_slot` copies
the new state to the device that owns the slot and writes it into that device's block only.

Transfers in the frame loop: one explicit upload of the padded frames (and the ``active`` mask) and one
explicit fetch of the boxes per step (:func:`fetch_boxes`); nothing else crosses between host and device,
which the tests check under ``jax.transfer_guard("disallow")``.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from atom_jax import tracker as atom
from atom_jax.config import TrackerConfig
from atom_jax.errors import InputError

BATCH_AXIS = "batch"


def local_mesh(num_devices: int | None = None, batch_size: int | None = None) -> Mesh:
    """A 1-D mesh ``("batch",)`` over the first ``num_devices`` devices of this process (default: all, or
    ``min(local devices, batch_size)`` given the batch size, so that no device holds only idle slots)."""
    devices = jax.local_devices()
    if num_devices is None:
        n = len(devices) if batch_size is None else max(1, min(len(devices), int(batch_size)))
    else:
        n = int(num_devices)
    if not 1 <= n <= len(devices):
        raise InputError(f"--devices must be between 1 and the {len(devices)} local device(s), got {n}")
    return Mesh(np.asarray(devices[:n]), (BATCH_AXIS,))


def num_slots(batch_size: int, mesh: Mesh) -> int:
    """``batch_size`` rounded up to a multiple of the mesh size (the extra slots stay idle)."""
    return -(-int(batch_size) // mesh.size) * mesh.size


def batch_sharding(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P(BATCH_AXIS))


def replicate(tree, mesh: Mesh):
    """``tree`` on every device of ``mesh`` (explicit transfer; a no-op for arrays already placed so)."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def on_device(replicated_tree, device):
    """The copy of a replicated tree held by ``device`` (no transfer)."""
    def pick(a):
        return next(s.data for s in a.addressable_shards if s.device == device)

    return jax.tree_util.tree_map(pick, replicated_tree)


@functools.lru_cache(maxsize=16)
def sharded_step(mesh: Mesh, config: TrackerConfig, update: str):
    """``step(weights, states, images, active) -> (states, boxes, aux)``: :func:`atom_jax.tracker.step_batch`
    on each device's block of slots; jitted once per (mesh, config, frame canvas), ``states`` donated."""
    def local(weights, states, images, active):
        return atom.step_batch(weights, config, states, images, active, update=update)

    spec = P(BATCH_AXIS)
    # check_vma=False: the tracker's loops carry values that become device-varying (they are per slot), which
    # the checker would want annotated; nothing here is reduced across devices, so there is nothing to check.
    mapped = jax.shard_map(local, mesh=mesh, in_specs=(P(), spec, spec, spec), out_specs=spec, check_vma=False)
    return jax.jit(mapped, donate_argnums=(1,))


def broadcast_state(state, slots: int, mesh: Mesh):
    """A batch of ``slots`` copies of one slot's state, sharded over ``mesh`` (used for the first init)."""
    stacked = jax.tree_util.tree_map(lambda a: jnp.broadcast_to(a, (slots,) + a.shape), state)
    return jax.device_put(stacked, batch_sharding(mesh))


@jax.jit
def _set_row(block, state, row):
    return jax.tree_util.tree_map(lambda b, s: b.at[row].set(s), block, state)


def put_slot(states, state, slot: int, mesh: Mesh):
    """``states`` with slot ``slot`` replaced by ``state``: only the block of the device that owns the slot
    is rewritten, on that device."""
    leaves, treedef = jax.tree_util.tree_flatten(states)
    slots = leaves[0].shape[0]
    per = slots // mesh.size
    dev = slot // per
    blocks = [sorted(leaf.addressable_shards, key=lambda s: s.index[0].start or 0) for leaf in leaves]
    device = blocks[0][dev].device
    row = jax.device_put(np.int32(slot - dev * per), device)
    one = jax.device_put(jax.tree_util.tree_leaves(state), device)
    new_block = _set_row([b[dev].data for b in blocks], one, row)
    out = []
    for leaf, shards, new in zip(leaves, blocks, new_block):
        arrays = [new if i == dev else s.data for i, s in enumerate(shards)]
        out.append(jax.make_array_from_single_device_arrays(leaf.shape, leaf.sharding, arrays))
    return jax.tree_util.tree_unflatten(treedef, out)


def fetch_boxes(boxes, extra=None):
    """The one device-to-host transfer of a frame: the boxes, as float64 (blocks until the step is done);
    with ``extra`` (a pytree of the step's outputs, e.g. its optimizer statistics) fetched in the same
    ``device_get``: ``(boxes, extra as NumPy)``."""
    if extra is None:
        return np.asarray(jax.device_get(boxes), np.float64)
    boxes, extra = jax.device_get((boxes, extra))
    return np.asarray(boxes, np.float64), extra
