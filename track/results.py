"""Results folders in pytracking's text format, and the GOT-10k / TrackingNet submission formats.

Layout of a results folder (what ``atom-jax eval`` writes and ``atom-jax score`` reads; pytracking's
``tracking_results/<tracker>/<param>`` folders and its published raw results have the same shape):
  * ``<seq>.txt``: one predicted ``x<TAB>y<TAB>w<TAB>h`` line per frame (frame 0 = the initial box).
    pytracking truncates to integers; we keep two decimals. Readers accept tabs, commas or spaces.
  * ``<seq>_time.txt``: seconds per frame.
  * several runs (seeds): subfolders ``run_000``, ``run_001``, ... each laid out as above (pytracking names them
    ``<param>_000``; any subfolders with a common prefix and a 3-digit suffix are taken as runs).
Files are written atomically and the box file last, so a sequence is finished exactly when ``<seq>.txt`` exists.
"""

from __future__ import annotations

import pathlib
import re
import zipfile

import numpy as np

from atom_jax.errors import InputError
from atom_jax.data.files import load_table
from track.files import atomic_write_text

_RUN_DIR = re.compile(r"^(.+)_(\d{3})$")


def _format_rows(rows: np.ndarray, fmt: str, sep: str) -> str:
    rows = np.atleast_2d(rows)
    return "".join(sep.join(fmt % v for v in row) + "\n" for row in rows)


def boxes_path(folder, seq_name: str) -> pathlib.Path:
    return pathlib.Path(folder) / f"{seq_name}.txt"


def is_finished(folder, seq_name: str) -> bool:
    return boxes_path(folder, seq_name).is_file()


def write_sequence_result(folder, seq_name: str, boxes_xywh, times_s) -> None:
    """Write ``<seq>_time.txt`` then ``<seq>.txt`` (the completion marker), each atomically."""
    folder = pathlib.Path(folder)
    boxes = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    if not np.all(np.isfinite(boxes)):
        raise ValueError(f"{seq_name}: tracker produced non-finite boxes")
    atomic_write_text(folder / f"{seq_name}_time.txt", _format_rows(np.asarray(times_s)[:, None], "%.6f", "\t"))
    atomic_write_text(boxes_path(folder, seq_name), _format_rows(boxes, "%.2f", "\t"))


def read_boxes(folder, seq_name: str) -> np.ndarray:
    path = boxes_path(folder, seq_name)
    if not path.is_file():
        raise InputError(f"{path}: result not found")
    return load_table(path, ncols=4)


def read_times(folder, seq_name: str) -> np.ndarray | None:
    path = pathlib.Path(folder) / f"{seq_name}_time.txt"
    return load_table(path, ncols=1)[:, 0] if path.is_file() else None


def run_folders(results) -> list[pathlib.Path]:
    """The run folders of a results folder: its ``*_NNN`` subfolders holding ``.txt`` files, else itself."""
    results = pathlib.Path(results)
    if not results.is_dir():
        raise InputError(f"{results}: results folder not found")
    runs = sorted(d for d in results.iterdir()
                  if d.is_dir() and _RUN_DIR.match(d.name) and any(d.glob("*.txt")))
    return runs or [results]


def run_folder(results, run: int, runs: int) -> pathlib.Path:
    """Where run ``run`` of ``runs`` goes: the folder itself for a single run, else ``run_NNN``."""
    results = pathlib.Path(results)
    return results if runs == 1 else results / f"run_{run:03d}"


# --- submissions -----------------------------------------------------------------------------------------

def pack_got10k(results, out_dir, sequences) -> pathlib.Path:
    """GOT-10k test submission: ``<out>/<seq>/<seq>_001.txt`` (comma-separated boxes, one file per run:
    ``_001``, ``_002``, ...) and ``<seq>_time.txt``; zipped to ``<out>.zip``."""
    out_dir = pathlib.Path(out_dir)
    for k, run in enumerate(run_folders(results), start=1):
        for seq in sequences:
            name = seq if isinstance(seq, str) else seq.name
            boxes = read_boxes(run, name)
            atomic_write_text(out_dir / name / f"{name}_{k:03d}.txt", _format_rows(boxes, "%.4f", ","))
            times = read_times(run, name)
            if k == 1 and times is not None:
                atomic_write_text(out_dir / name / f"{name}_time.txt", _format_rows(times[:, None], "%.6f", ","))
    return _zip_folder(out_dir)


def pack_trackingnet(results, out_dir, sequences) -> pathlib.Path:
    """TrackingNet submission: ``<seq>.txt`` (comma-separated boxes) for every sequence, zipped flat to
    ``<out>.zip``; the first run is used."""
    out_dir = pathlib.Path(out_dir)
    run = run_folders(results)[0]
    for seq in sequences:
        name = seq if isinstance(seq, str) else seq.name
        atomic_write_text(out_dir / f"{name}.txt", _format_rows(read_boxes(run, name), "%.4f", ","))
    return _zip_folder(out_dir)


def _zip_folder(folder: pathlib.Path) -> pathlib.Path:
    target = folder.with_suffix(".zip")
    tmp = target.with_name(f".{target.name}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                zf.write(path, path.relative_to(folder).as_posix())
    tmp.replace(target)
    return target
