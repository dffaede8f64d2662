"""The test suite's compilation cache folder (``tests/conftest.py``): pruning keeps the newest programs."""

from __future__ import annotations

import os

from tests.conftest import prune_cache


def test_prune_cache_removes_the_oldest_down_to_half(tmp_path):
    for i in range(10):
        path = tmp_path / f"entry{i}"
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000 + i, 1_000 + i))  # entry0 written first
    assert prune_cache(str(tmp_path), max_bytes=1_000) == 0  # at the cap: nothing goes
    assert len(list(tmp_path.iterdir())) == 10
    assert prune_cache(str(tmp_path), max_bytes=900) == 6  # 1,000 bytes > 900: down to 450 or less
    assert sorted(p.name for p in tmp_path.iterdir()) == ["entry6", "entry7", "entry8", "entry9"]
