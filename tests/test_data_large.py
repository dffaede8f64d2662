"""atom_jax.data.large: LaSOT, GOT-10k and TrackingNet (training and test splits) on tiny layouts built here."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.data import files, large, registry
from atom_jax.data.registry import load_dataset
from atom_jax.errors import InputError
from tests.layouts import _img, _touch_frames, _write_boxes


def _boxes(n):
    return np.array([[1 + t, 2, 5, 6] for t in range(n)], float)


def test_lasot_layout(tmp_path):
    seq = tmp_path / "cat" / "cat-3"
    boxes = _boxes(6)
    boxes[4, 2] = 0  # invalid box -> not visible
    seq.mkdir(parents=True)
    np.savetxt(seq / "groundtruth.txt", boxes, fmt="%g", delimiter=",")
    (seq / "full_occlusion.txt").write_text("0,0,1,0,0,0")
    (seq / "out_of_view.txt").write_text("0,0,0,0,0,1")
    for t in range(6):
        _img(seq / "img" / f"{t + 1:08d}.jpg", 40 * t)
    ds = large.lasot(tmp_path, split="all")
    assert ds.names == ("cat-3",) and len(ds) == 1 and ds.is_video
    assert large.lasot(tmp_path, split="train").names == ()  # cat-3 is in the test split
    info = ds[0]
    np.testing.assert_allclose(info.ground_truth_xywh, boxes)
    np.testing.assert_array_equal(info.visible, [1, 1, 0, 1, 0, 0])
    frame = info.frame(2)
    assert frame.shape == (24, 32, 3) and abs(int(frame[0, 0, 0]) - 80) <= 2 and frame[0, 0, 2] <= 2


def test_got10k_layout(tmp_path):
    seq = tmp_path / "GOT-10k_Train_000001"
    seq.mkdir(parents=True)
    (tmp_path / "list.txt").write_text("GOT-10k_Train_000001\n")
    np.savetxt(seq / "groundtruth.txt", _boxes(4), fmt="%g", delimiter=",")
    (seq / "absence.label").write_text("0\n1\n0\n0\n")
    (seq / "cover.label").write_text("8\n0\n0\n3\n")
    _img(seq / "00000002.jpg", 200)
    ds = large.got10k(tmp_path)
    np.testing.assert_array_equal(ds[0].visible, [1, 0, 0, 1])
    assert ds[0].frame(1)[0, 0, 0] >= 198


def test_trackingnet_layout(tmp_path):
    (tmp_path / "TRAIN_0" / "anno").mkdir(parents=True)
    np.savetxt(tmp_path / "TRAIN_0" / "anno" / "abc.txt", _boxes(3), fmt="%g", delimiter=",")
    _img(tmp_path / "TRAIN_0" / "frames" / "abc" / "0.jpg", 10)
    ds = large.trackingnet(tmp_path, chunks=(0,))
    assert ds.names == ("abc",) and ds[0].visible.all()
    assert ds[0].frame(0).shape == (24, 32, 3)
    with pytest.raises(InputError, match="TRAIN_1"):
        large.trackingnet(tmp_path, chunks=(0, 1))


def test_missing_and_malformed_inputs(tmp_path):
    with pytest.raises(InputError, match="LaSOT root"):
        large.lasot(tmp_path / "nope")
    (tmp_path / "bad.txt").write_text("1,2,3\n")
    with pytest.raises(InputError, match="bad.txt:1: expected 4 values"):
        files.load_table(tmp_path / "bad.txt")
    with pytest.raises(InputError, match="cannot read image"):
        files.read_image_rgb(tmp_path / "none.jpg")
    with pytest.raises(InputError, match="unknown dataset kind"):
        registry.open_datasets([{"kind": "imagenet"}])


# --- test and validation splits (evaluation) ------------------------------------------------------------------

def test_lasot_test_split(tmp_path):
    seq = tmp_path / "lasot" / "cat" / "cat-1"
    _touch_frames(seq / "img", [1], 8)
    _write_boxes(seq / "groundtruth.txt", 4)
    (seq / "full_occlusion.txt").write_text("0,1,0,0\n")
    (seq / "out_of_view.txt").write_text("0,0,1,0\n")
    (tmp_path / "lasot" / "cat" / "cat-2").mkdir()  # a training video: not in the test split, ignored
    [cat] = load_dataset("lasot", tmp_path / "lasot")
    assert cat.name == "cat-1" and cat.dataset == "lasot"
    np.testing.assert_array_equal(cat.target_visible, [True, False, False, True])
    (seq / "out_of_view.txt").write_text("0,0,1\n")
    with pytest.raises(InputError, match="out_of_view.txt: 3 labels for 4 frames"):
        load_dataset("lasot", tmp_path / "lasot")


def test_got10k_val_and_test(tmp_path):
    for split in ("val", "test"):
        d = tmp_path / split / f"GOT-10k_{split}_000001"
        _touch_frames(d, [1, 2, 3], 8)
        (tmp_path / split / "list.txt").write_text(d.name + "\n")
    _write_boxes(tmp_path / "val" / "GOT-10k_val_000001" / "groundtruth.txt", 3)
    (tmp_path / "val" / "GOT-10k_val_000001" / "cover.label").write_text("8\n0\n3\n")
    _write_boxes(tmp_path / "test" / "GOT-10k_test_000001" / "groundtruth.txt", 1)
    [val] = load_dataset("got10k_val", tmp_path)
    np.testing.assert_array_equal(val.target_visible, [True, False, True])
    [test] = load_dataset("got10k_test", tmp_path)
    assert len(test) == 3 and np.isnan(test.ground_truth_xywh[1:]).all()
    np.testing.assert_array_equal(test.init_box_xywh, [1, 2, 10, 20])


def test_trackingnet_first_frame_only(tmp_path):
    _touch_frames(tmp_path / "TEST" / "frames" / "abc", range(12), 1)  # 0.jpg ... 11.jpg: numeric order
    _write_boxes(tmp_path / "TEST" / "anno" / "abc.txt", 1)
    [seq] = load_dataset("trackingnet", tmp_path)
    assert len(seq) == 12 and seq.frames[2].endswith("/2.jpg") and seq.frames[-1].endswith("/11.jpg")
    assert np.isnan(seq.ground_truth_xywh[1:]).all()
