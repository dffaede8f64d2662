"""Evaluation over several processes (one per host, or several per host): start-up and the final rendezvous.

``atom-jax eval --coordinator HOST:PORT --num-processes N --process-id I`` starts ``jax.distributed`` (as
``atom-jax train`` does); every process loads the same dataset, takes its share (:func:`track.runner.split`)
and tracks it on its own local devices, writing finished sequences atomically into the shared results
folder. Nothing crosses between processes during tracking. At the end each process publishes a small JSON
report in the coordination service's key-value store and waits for everyone's (:func:`gather`); process 0
then scores the merged folder. While a process waits it prints, once a minute, which process it waits for;
if one has died, stop the others and rerun the same commands: they resume from the files already written.
"""

from __future__ import annotations

import json
import sys

import jax

from atom_jax.errors import InputError

_PREFIX = "atom_jax_eval"
WAIT_MS = 60_000  # how long one wait lasts before a "still waiting" line


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise InputError(f"--process-id must be in 0..{num_processes - 1} for --num-processes {num_processes}, "
                         f"got {process_id}")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def _client():
    from jax._src import distributed  # the coordination service's client (orbax uses it the same way)

    if distributed.global_state.client is None:
        raise RuntimeError("jax.distributed is not initialised")
    return distributed.global_state.client


def gather(tag: str, payload: dict) -> list[dict]:
    """Publish ``payload`` under ``tag`` and return every process's payload (in process order), waiting for
    the processes that are not done yet."""
    client = _client()
    me, n = jax.process_index(), jax.process_count()
    client.key_value_set(f"{_PREFIX}/{tag}/{me}", json.dumps(payload))
    out = []
    for p in range(n):
        while True:
            try:
                out.append(json.loads(client.blocking_key_value_get(f"{_PREFIX}/{tag}/{p}", WAIT_MS)))
                break
            except jax.errors.JaxRuntimeError as err:  # a timeout: say so and keep waiting
                if "DEADLINE_EXCEEDED" not in str(err):
                    raise
                print(f"process {me}: waiting for process {p} to finish {tag}", file=sys.stderr, flush=True)
    return out
