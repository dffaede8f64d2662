"""atom_jax.data.files: text tables and labels (malformed files name file and line), RGB decoding, read-ahead."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.data import files
from atom_jax.errors import InputError
from tests.layouts import _write_image


def test_load_table_accepts_the_separators_of_the_benchmarks(tmp_path):
    p = tmp_path / "gt.txt"
    p.write_text("1,2,3,4\n5\t6\t7\t8\n9 10  11 12\n13, 14,\t15 ,16\nNaN,NaN,NaN,NaN\n\n")
    table = files.load_table(p)
    np.testing.assert_array_equal(table[:4], np.arange(1, 17).reshape(4, 4))
    assert np.isnan(table[4]).all()


@pytest.mark.parametrize("content, line, what", [
    ("1,2,3,4\n1,2,x,4\n", 2, "expected numbers"),
    ("1,2,3,4\n1,2,3\n", 2, "expected 4 values"),
    ("\n\n1,2,3,4,5\n", 3, "expected 4 values"),
])


def test_malformed_box_files_name_file_and_line(tmp_path, content, line, what):
    p = tmp_path / "groundtruth_rect.txt"
    p.write_text(content)
    with pytest.raises(InputError, match=rf"groundtruth_rect.txt:{line}: {what}"):
        files.load_table(p)


def test_mixed_row_widths_and_bad_labels(tmp_path):
    p = tmp_path / "groundtruth.txt"
    p.write_text("1,2,3,4\n1,2,3,4,5,6,7,8\n")
    with pytest.raises(InputError, match="groundtruth.txt:2"):
        files.load_table(p, ncols=(4, 8))
    lab = tmp_path / "cover.label"
    lab.write_text("1\n2\nhigh\n")
    with pytest.raises(InputError, match="cover.label:3"):
        files.load_labels(lab)
    with pytest.raises(InputError, match="missing.txt: file not found"):
        files.load_table(tmp_path / "missing.txt")


def test_read_image_gives_rgb_uint8_for_color_gray_and_rgba(tmp_path):
    bgr = np.zeros((4, 5, 3), np.uint8)
    bgr[..., 2] = 200  # red in OpenCV's BGR order
    _write_image(tmp_path / "c.png", bgr)
    _write_image(tmp_path / "g.png", np.full((4, 5), 77, np.uint8))
    _write_image(tmp_path / "a.png", np.concatenate([bgr, np.full((4, 5, 1), 9, np.uint8)], axis=2))
    c, g, a = (files.read_image_rgb(tmp_path / n) for n in ("c.png", "g.png", "a.png"))
    assert c.dtype == np.uint8 and c.shape == (4, 5, 3) and (c[..., 0] == 200).all() and (c[..., 2] == 0).all()
    assert g.shape == (4, 5, 3) and (g == 77).all()
    np.testing.assert_array_equal(a, c)
    with pytest.raises(InputError, match="nope.jpg"):
        files.read_image_rgb(tmp_path / "nope.jpg")


def test_read_ahead_keeps_order_errors_and_stops():
    import threading
    import time


    assert list(files.read_ahead(iter(range(10)), depth=3)) == list(range(10))
    assert list(files.read_ahead(iter(range(4)), depth=0)) == [0, 1, 2, 3]

    def failing():
        yield 1
        yield 2
        raise InputError("frame3.jpg: cannot read image")

    got = []
    with pytest.raises(InputError, match="frame3.jpg"):
        for item in files.read_ahead(failing(), depth=2):
            got.append(item)
    assert got == [1, 2]  # the items before the bad one arrive first

    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    before = threading.active_count()
    gen = files.read_ahead(endless(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # the consumer stops early: the producer thread ends
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
    assert len(produced) <= 3 + 2 + 2  # read at most depth (+ the one in flight) ahead
