"""File helpers shared by the readers, the runner and the result writers.

* :func:`load_table` parses the numeric text files of the tracking benchmarks (boxes, labels): one row per line,
  numbers separated by commas, tabs or spaces (mixed separators too, as some OTB files have them), ``nan`` allowed.
  A malformed line raises :class:`~atom_jax.errors.InputError` naming the file and the line number.
* :func:`read_image_rgb` decodes a frame to RGB ``uint8`` HWC: grayscale and RGBA files become 3-channel RGB.
* :func:`read_ahead` runs an iterator (frame decoding) a few items ahead in a background thread, so that decoding
  the next frame overlaps the tracker's step on this one (OpenCV releases the GIL while it decodes).
* :func:`atomic_write_text` writes through a temporary file in the same folder and renames it, so a file that
  exists is always complete (what makes interrupted evaluation runs resumable).
"""

from __future__ import annotations

import os
import pathlib
import queue
import re
import tempfile
import threading
from typing import Iterator, TypeVar

import numpy as np

from atom_jax.errors import InputError

_SEPARATORS = re.compile(r"[,\t ;]+")
T = TypeVar("T")
_DONE = object()


def read_ahead(items: Iterator[T], depth: int = 3) -> Iterator[T]:
    """Yield what ``items`` yields, producing up to ``depth`` items ahead in a daemon thread.

    An exception raised by ``items`` (e.g. an unreadable frame) is raised here at the item where it happened,
    after the items before it. Closing the returned generator early (``break``, an error in the consumer) stops
    the thread after at most one more item. ``depth <= 0`` yields directly, without a thread.
    """
    if depth <= 0:
        yield from items
        return
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce():
        try:
            for item in items:
                if stop.is_set():
                    return
                buffer.put((item, None))
            buffer.put((_DONE, None))
        except BaseException as err:  # handed to the consumer, raised there
            buffer.put((_DONE, err))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # e.g. release a video capture now, not when the generator is collected
                close()

    worker = threading.Thread(target=produce, name="read_ahead", daemon=True)
    worker.start()
    try:
        while True:
            item, err = buffer.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full buffer
            try:
                buffer.get(timeout=0.05)
            except queue.Empty:
                pass


def load_table(path, ncols: int | tuple[int, ...] = 4, allow_empty: bool = False) -> np.ndarray:
    """Numeric rows of a text file as a float64 array of shape ``(rows, ncols)``.

    ``ncols`` may be a tuple of accepted widths (VOT files hold 4-value rectangles or 8-value polygons); all rows
    must have the same width. Blank lines are skipped. Raises ``InputError`` naming the file and the first bad line.
    """
    path = pathlib.Path(path)
    widths = (ncols,) if isinstance(ncols, int) else tuple(ncols)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"{path}: cannot read ({err})") from None
    rows = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        fields = [f for f in _SEPARATORS.split(line) if f]
        try:
            values = [float(f) for f in fields]
        except ValueError:
            raise InputError(f"{path}:{lineno}: expected numbers, got {line[:60]!r}") from None
        if len(values) not in widths:
            want = " or ".join(str(w) for w in widths)
            raise InputError(f"{path}:{lineno}: expected {want} values, got {len(values)}")
        if rows and len(values) != len(rows[0]):
            raise InputError(f"{path}:{lineno}: {len(values)} values where earlier lines have {len(rows[0])}")
        rows.append(values)
    if not rows:
        if allow_empty:
            return np.zeros((0, widths[0]))
        raise InputError(f"{path}: no data")
    return np.asarray(rows, dtype=np.float64)


def load_labels(path, expected_len: int | None = None) -> np.ndarray:
    """Integer per-frame flags as int64: one per line (GOT-10k ``cover.label``) or all on one comma-separated
    line (LaSOT ``full_occlusion.txt``); every number of the file is one frame."""
    path = pathlib.Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    values = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        for field in _SEPARATORS.split(line.strip()):
            if not field:
                continue
            try:
                value = float(field)
            except ValueError:
                raise InputError(f"{path}:{lineno}: expected integer labels, got {field[:30]!r}") from None
            if value != round(value):
                raise InputError(f"{path}:{lineno}: expected integer labels, got {field[:30]!r}")
            values.append(int(value))
    if expected_len is not None and len(values) != expected_len:
        raise InputError(f"{path}: {len(values)} labels for {expected_len} frames")
    return np.asarray(values, dtype=np.int64)


def read_image_rgb(path) -> np.ndarray:
    """Decode an image file to RGB ``uint8`` of shape ``(H, W, 3)`` (grayscale and RGBA become RGB)."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)  # always 3-channel BGR, 8-bit
    if image is None:
        raise InputError(f"{path}: cannot read image (missing or not an image)")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def atomic_write_text(path, text: str) -> None:
    """Write ``text`` to ``path`` so that the file either does not exist or is complete."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
