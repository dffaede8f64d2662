"""Evaluation over several processes (one per host, or several per host): start-up and the final rendezvous.

``atom-jax eval --coordinator HOST:PORT --num-processes N --process-id I`` starts ``jax.distributed`` (as
``atom-jax train`` does); every process loads the same dataset, takes its share (:func:`track.runner.split`)
and tracks it on its own local devices, writing finished sequences atomically into the shared results
folder. Nothing crosses between processes during tracking. At the end each process writes a small JSON
report into the results folder (``.atom_jax_hosts/``, atomically) and waits for everyone's
(:func:`gather`); process 0 then scores the merged folder. While a process waits it prints, once a minute,
which process it waits for; if one has died, stop the others and rerun the same commands: they resume from the
files already written.

Only public JAX APIs: ``jax.distributed`` starts the processes, and ``jax.experimental.multihost_utils``
agrees on a run id at start-up (``broadcast_one_to_all``, so a rerun never reads an earlier run's reports) and
holds the processes together before the reports are removed (``sync_global_devices``), at moments when every
process is already there. The long wait for the slowest process is on files, not on a collective, so it has
no timeout and can say whom it waits for.
"""

from __future__ import annotations

import json
import pathlib
import sys
import time

import jax
import numpy as np

from atom_jax.errors import InputError
from track.files import atomic_write_text

FOLDER = ".atom_jax_hosts"
WAIT_S = 60.0  # how long one wait lasts before a "still waiting" line
POLL_S = 0.5  # how often a waiting process looks for the others' reports
_run = {}  # the run id all processes agreed on (set by initialize)


def initialize(coordinator: str, num_processes: int, process_id: int) -> None:
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise InputError(f"--process-id must be in 0..{num_processes - 1} for --num-processes {num_processes}, "
                         f"got {process_id}")
    jax.distributed.initialize(coordinator, num_processes, process_id)
    agree_on_run_id()


def agree_on_run_id() -> str:
    """Process 0 draws a run id and every process takes it (a collective: all processes are starting up)."""
    from jax.experimental import multihost_utils

    mine = np.frombuffer(np.random.default_rng().bytes(8), np.uint32)
    words = multihost_utils.broadcast_one_to_all(mine)
    _run["id"] = "".join(f"{int(w):08x}" for w in np.asarray(words))
    return _run["id"]


def _report_path(results, tag: str, process: int) -> pathlib.Path:
    if "id" not in _run:
        raise RuntimeError("track.hosts.initialize has not run")
    return pathlib.Path(results) / FOLDER / f"{_run['id']}-{tag.replace('/', '_')}-{process}.json"


def gather(results, tag: str, payload: dict) -> list[dict]:
    """Publish ``payload`` under ``tag`` in the shared folder ``results`` and return every process's payload (in
    process order), waiting for the processes that are not done yet. The reports are removed once every process
    has read them."""
    me, n = jax.process_index(), jax.process_count()
    for attempt in range(3):  # process 0 may remove the emptied folder between our mkdir and our write
        try:
            atomic_write_text(_report_path(results, tag, me), json.dumps(payload))
            break
        except FileNotFoundError:
            if attempt == 2:
                raise
    out = []
    for p in range(n):
        path, waited = _report_path(results, tag, p), 0.0
        while not path.is_file():
            time.sleep(POLL_S)
            waited += POLL_S
            if waited >= WAIT_S:
                print(f"process {me}: waiting for process {p} to finish {tag}", file=sys.stderr, flush=True)
                waited = 0.0
        out.append(json.loads(path.read_text()))
    _done_reading(results, tag)
    return out


def _done_reading(results, tag: str) -> None:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(f"atom_jax_eval {tag} read")  # everyone has read: nobody waits long here
    if jax.process_index() == 0:
        for p in range(jax.process_count()):
            _report_path(results, tag, p).unlink(missing_ok=True)
        try:
            (pathlib.Path(results) / FOLDER).rmdir()  # when empty
        except OSError:
            pass
