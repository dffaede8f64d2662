"""The input pipeline: batches made by worker processes while the training step runs.

A batch is a pure function of ``(seed, step, stream)`` (:func:`train.processing.make_batch`), so workers can
make batches in any order and the result is the same as making them inline: the pipeline only decides *when*.
``num_workers = 0`` makes them inline in the calling process (tests, debugging).

Workers are started with ``spawn`` (forking a process that already runs JAX's thread pools is unsafe); each
builds its datasets once from the picklable spec ``{"datasets": [...], "weights": [...], "processing": {...},
"seed": int, "stream": int}``.
"""

from __future__ import annotations

import collections
import multiprocessing
from typing import Iterator, Sequence

from atom_jax.data.registry import open_datasets
from train import processing

_WORKER = {}


def _build(spec: dict):
    datasets = open_datasets(spec["datasets"])
    cfg = processing.ProcessingConfig(**{k: tuple(v) if isinstance(v, list) else v
                                         for k, v in spec["processing"].items()})
    return datasets, list(spec["weights"]), cfg


def _init_worker(spec: dict) -> None:
    import cv2

    cv2.setNumThreads(1)  # the parallelism is across workers
    _WORKER.clear()
    _WORKER["spec"] = spec
    try:
        _WORKER["built"] = _build(spec)
    except Exception as err:  # raised from _make instead: a failing initializer makes Pool respawn forever
        _WORKER["error"] = err


def _make(step: int, batch_size: int, indices):
    if "error" in _WORKER:
        raise _WORKER["error"]
    datasets, weights, cfg = _WORKER["built"]
    spec = _WORKER["spec"]
    return processing.make_batch(datasets, weights, cfg, spec["seed"], step, batch_size, spec["stream"], indices)


def batches(spec: dict, steps: Sequence[int], batch_size: int, indices: Sequence[int] | None = None,
            num_workers: int = 0, prefetch: int = 2) -> Iterator[tuple[int, dict]]:
    """Yield ``(step, batch)`` for ``steps`` in order; ``indices`` selects this process's part of each batch.

    With workers, up to ``num_workers + prefetch`` batches are in flight ahead of the consumer.
    """
    steps = list(steps)
    indices = None if indices is None else list(indices)
    if num_workers <= 0:
        _init_worker(spec)
        for step in steps:
            yield step, _make(step, batch_size, indices)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(num_workers, initializer=_init_worker, initargs=(spec,)) as pool:
        pending = collections.deque()
        it = iter(steps)
        for step in it:
            pending.append((step, pool.apply_async(_make, (step, batch_size, indices))))
            if len(pending) >= num_workers + prefetch:
                break
        while pending:
            step, result = pending.popleft()
            batch = result.get()
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.apply_async(_make, (nxt, batch_size, indices))))
            yield step, batch
