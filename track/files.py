"""Writing result files: :func:`atomic_write_text` writes through a temporary file in the same folder and renames
it, so a file that exists is always complete (what makes interrupted evaluation runs resumable). Reading (tables,
frames) is :mod:`atom_jax.data.files`.
"""

from __future__ import annotations

import json
import os
import pathlib
import tempfile


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


def atomic_write_jsonl(path, records) -> None:
    """``records`` (JSON-ready dicts) as JSON lines, one per record, written as :func:`atomic_write_text`."""
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in records))
