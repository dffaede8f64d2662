"""track.files: result files are written atomically."""

from __future__ import annotations

from track.files import atomic_write_text


def test_atomic_write_leaves_no_partial_file(tmp_path):
    atomic_write_text(tmp_path / "sub" / "a.txt", "hello\n")
    assert (tmp_path / "sub" / "a.txt").read_text() == "hello\n"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.txt"]
