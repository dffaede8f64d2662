"""The evaluation loop: run a tracker over sequences, K seeds, one or B sequences at a time, resumably.

* Resumable: a sequence whose ``<seq>.txt`` exists in the run folder is skipped; each finished sequence is
  written atomically (:mod:`track.results`), so an interrupted run (Ctrl-C, kill, crash) loses only the
  sequences in flight and a rerun of the same command continues where it stopped.
* Seeds: run ``k`` of ``K`` uses ``seed + k`` and writes to ``run_{k:03d}`` (the folder itself when K = 1).
  A fresh tracker is made per sequence with the run's seed, so a sequence's result does not depend on which
  sequences were run before it (and resuming reproduces an uninterrupted run).
* Batched (``batch > 1``): B sequences advance in lockstep through one batch tracker; when a sequence ends its
  slot takes the next one. The per-frame time of a batched step is the step time divided by the active slots.
* Frame 0's reported box is the initial box, as in pytracking.
* Times are wall-clock seconds measured after the device has finished (the trackers block in ``initialize``
  and fetch the boxes in ``update``), so the initialisation's cost is not moved into frame 2 by JAX's
  asynchronous dispatch. Progress bars show frames/s from the first tracked frame on (compilation excluded).
* Batched ATOM shards its slots over ``devices`` local devices (default min(local devices,
  batch), :mod:`track.devices`).
* Several processes (``atom-jax eval --num-processes``) each take a share of the sequences: :func:`split`.
* ``optimizer_log`` (ATOM only): each sequence's online-optimizer statistics, one JSON object per frame
  (:func:`atom_jax.optimizers.log_record`), go to ``<seq>_optimizer.jsonl`` beside its boxes, written before
  them (fetched with each frame's boxes, no extra host sync).
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np

from atom_jax.errors import InputError
from track import baselines, results


class RunReport(NamedTuple):
    finished: list[str]   # "run/sequence" tracked in this call
    skipped: list[str]    # already present
    failed: list[str]     # "run/sequence: error"


def parse_overrides(items) -> dict[str, str]:
    """``--set`` items ``"name=value"`` -> ``{name: "value"}``; the tracker converts the strings to its types."""
    pairs = [item.partition("=") for item in items or ()]
    bad = [name + sep + value for name, sep, value in pairs if not sep or not name.strip()]
    if bad:
        raise InputError(f"--set expects name=value, got {bad[0]!r}")
    return {name.strip(): value.strip() for name, _, value in pairs}


def _progress(total, desc, enabled, position=0, leave=True, unit="seq", smoothing=0.3):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, position=position, leave=leave, unit=unit,
                dynamic_ncols=True, smoothing=smoothing)


def restart_rate(bar) -> None:
    """From now on a tqdm bar's frames/s counts only what follows (the frames so far, which include the
    first step's compilation, are left out of the rate)."""
    if bar is None or bar.disable:
        return
    bar.initial = bar.n  # tqdm's average rate is (n - initial) / elapsed
    bar.start_t = bar.last_print_t = bar._time()
    bar.last_print_n = bar.n


def split(sequences, num_processes: int, process_id: int) -> list:
    """Process ``process_id``'s share of ``sequences`` (in their order), the same in every process: longest
    first, each to the process with the fewest frames so far (ties: the lower id)."""
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise InputError(f"--process-id must be in 0..{num_processes - 1}, got {process_id}")
    load, owner = [0] * num_processes, {}
    for index in sorted(range(len(sequences)), key=lambda i: (-len(sequences[i]), sequences[i].name)):
        p = min(range(num_processes), key=lambda q: (load[q], q))
        owner[index] = p
        load[p] += len(sequences[index])
    return [seq for i, seq in enumerate(sequences) if owner[i] == process_id]


def track_sequence(tracker, seq, frame_bar=None) -> tuple[np.ndarray, np.ndarray]:
    """Run one initialised-from-scratch tracker over ``seq``; returns boxes ``(N, 4)`` and seconds ``(N,)``."""
    boxes = np.zeros((len(seq), 4))
    times = np.zeros(len(seq))
    for i, image in enumerate(seq.images()):
        start = time.perf_counter()
        if i == 0:
            tracker.initialize(image, seq.init_box_xywh)
            boxes[0] = seq.init_box_xywh
        else:
            boxes[i] = tracker.update(image)
        times[i] = time.perf_counter() - start
        if frame_bar is not None:
            frame_bar.update(1)
            if i == 1:
                restart_rate(frame_bar)
    return boxes, times


def write_optimizer_log(folder, seq_name: str, records) -> None:
    """``<folder>/<seq>_optimizer.jsonl``: one JSON object per frame (atomic)."""
    import pathlib

    from track.files import atomic_write_jsonl

    atomic_write_jsonl(pathlib.Path(folder) / f"{seq_name}_optimizer.jsonl", records)


def _enable_log(trk, optimizer_log: bool):
    if optimizer_log and hasattr(trk, "log_optimizer"):
        trk.log_optimizer = True
    return trk


def evaluate(sequences, tracker: str, results_dir, *, weights=None, overrides=None, runs: int = 1,
             batch: int = 1, seed: int = 0, progress: bool = True, devices: int | None = None,
             optimizer_log: bool = False) -> RunReport:
    """Track every sequence ``runs`` times into ``results_dir`` (see module docstring)."""
    if runs < 1 or batch < 1:
        raise InputError("--runs and --batch must be at least 1")
    report = RunReport([], [], [])
    for run in range(runs):
        folder = results.run_folder(results_dir, run, runs)
        todo = []
        for seq in sequences:
            if results.is_finished(folder, seq.name):
                report.skipped.append(f"{folder.name}/{seq.name}")
            else:
                todo.append(seq)
        if not todo:
            continue
        desc = f"run {run + 1}/{runs}" if runs > 1 else "sequences"
        if batch == 1:
            _run_single(todo, tracker, folder, weights, overrides, seed + run, progress, desc, report,
                        optimizer_log)
        else:
            _run_batched(todo, tracker, folder, weights, overrides, seed + run, batch, progress, desc, report,
                         devices, optimizer_log)
    return report


def _run_single(todo, tracker, folder, weights, overrides, seed, progress, desc, report, optimizer_log=False):
    seq_bar = _progress(len(todo), desc, progress)
    for seq in todo:
        frame_bar = _progress(len(seq), seq.name, progress, position=1, leave=False, unit="frame", smoothing=0)
        try:
            trk = _enable_log(baselines.make_tracker(tracker, weights, overrides, seed), optimizer_log)
            boxes, times = track_sequence(trk, seq, frame_bar)
            if optimizer_log and hasattr(trk, "optimizer_log"):
                write_optimizer_log(folder, seq.name, trk.optimizer_log)
            results.write_sequence_result(folder, seq.name, boxes, times)
            report.finished.append(f"{folder.name}/{seq.name}")
        except InputError:
            raise
        except Exception as err:  # one broken sequence must not end a long run; reported at the end
            report.failed.append(f"{folder.name}/{seq.name}: {type(err).__name__}: {err}")
        finally:
            frame_bar.close()
        seq_bar.update(1)
    seq_bar.close()


def _run_batched(todo, tracker, folder, weights, overrides, seed, batch, progress, desc, report, devices=None,
                 optimizer_log=False):
    trk = _enable_log(baselines.make_batch_tracker(tracker, weights, overrides, seed, batch, devices), optimizer_log)
    pending = list(todo)
    seq_bar = _progress(len(todo), desc, progress)
    frame_bar = _progress(sum(len(s) for s in todo), "frames", progress, position=1, unit="frame", smoothing=0)
    slots = [None] * batch  # per slot: [seq, frame iterator, boxes, times, next frame index]

    def load(slot):
        if not pending:
            slots[slot] = None
            return
        seq = pending.pop(0)
        frames = seq.images()
        start = time.perf_counter()
        trk.initialize(slot, next(frames), seq.init_box_xywh)
        boxes, times = np.zeros((len(seq), 4)), np.zeros(len(seq))
        boxes[0], times[0] = seq.init_box_xywh, time.perf_counter() - start
        slots[slot] = [seq, frames, boxes, times, 1]
        frame_bar.update(1)
        finish_if_done(slot)

    def finish_if_done(slot):
        seq, _, boxes, times, index = slots[slot]
        if index == len(seq):
            if optimizer_log and hasattr(trk, "optimizer_logs"):
                write_optimizer_log(folder, seq.name, trk.optimizer_logs[slot])
            results.write_sequence_result(folder, seq.name, boxes, times)
            report.finished.append(f"{folder.name}/{seq.name}")
            seq_bar.update(1)
            load(slot)

    for slot in range(batch):
        load(slot)
    first = True
    while any(s is not None for s in slots):
        images = [next(s[1]) if s is not None else None for s in slots]
        start = time.perf_counter()
        out = np.asarray(trk.update(images), dtype=np.float64)
        per_frame = (time.perf_counter() - start) / sum(im is not None for im in images)
        for slot, state in enumerate(slots):
            if state is None:
                continue
            state[2][state[4]], state[3][state[4]] = out[slot], per_frame
            state[4] += 1
            frame_bar.update(1)
            finish_if_done(slot)
        if first:
            restart_rate(frame_bar)
            first = False
    frame_bar.close()
    seq_bar.close()

