"""Host-side reading of the files every dataset layout is made of.

* :func:`load_table` parses the numeric text files of the tracking benchmarks (boxes, polygons): one row per line,
  numbers separated by commas, tabs, spaces or semicolons (mixed separators too, as some OTB files have them),
  ``nan`` allowed. A malformed line raises :class:`~atom_jax.errors.InputError` naming the file and the line.
* :func:`load_labels` reads per-frame integer flags (LaSOT occlusion, GOT-10k cover), with the same messages.
* :func:`read_image_rgb` decodes a frame to RGB ``uint8`` HWC: grayscale and RGBA files become 3-channel RGB;
  :func:`as_rgb` does the same for arrays decoded elsewhere.
* :func:`list_images` lists a frame folder in frame order; :func:`numbered_frames` names numbered frames.
* :func:`read_ahead` runs an iterator (frame decoding) a few items ahead in a background thread, so that decoding
  the next frame overlaps the tracker's step on this one (OpenCV releases the GIL while it decodes).
"""

from __future__ import annotations

import pathlib
import queue
import re
import threading
from typing import Iterator, TypeVar

import numpy as np

from atom_jax.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
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


def as_rgb(image: np.ndarray) -> np.ndarray:
    """A decoded image array (``(H, W)``, ``(H, W, 1)``, RGB or RGBA) as RGB ``uint8`` ``(H, W, 3)``."""
    if image.ndim == 2:
        image = image[:, :, None]
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    return np.ascontiguousarray(image[:, :, :3]).astype(np.uint8)


def list_images(folder) -> list[str]:
    """Image files of a folder in frame order (numeric names by value, others by name)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: frame folder not found")
    found = [p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]

    def key(p):
        return (0, int(p.stem), p.name) if p.stem.isdigit() else (1, 0, p.name)

    return [str(p) for p in sorted(found, key=key)]


def numbered_frames(folder, first: int, last: int, digits: int, ext: str = "jpg",
                    check_first: bool = True) -> tuple[str, ...]:
    """Paths ``folder/<first>.<ext> ... folder/<last>.<ext>``, zero-padded to ``digits``; with ``check_first``
    a missing first frame is an :class:`InputError` naming it (the cheap check that the layout is right)."""
    folder = pathlib.Path(folder)
    frames = tuple(str(folder / f"{i:0{digits}d}.{ext}") for i in range(first, last + 1))
    if check_first and frames and not pathlib.Path(frames[0]).is_file():
        raise InputError(f"{frames[0]}: first frame not found")
    return frames
