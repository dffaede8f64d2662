"""atom_jax.data.benchmarks: OTB-100, UAV123 and NFS layouts built here, and around the shared sequences."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax.data import files
from atom_jax.data.registry import load_dataset
from atom_jax.errors import InputError
from tests.layouts import _touch_frames, _write_boxes


def test_otb_special_cases(tmp_path):
    _touch_frames(tmp_path / "Jogging" / "img", [1], 4)
    _write_boxes(tmp_path / "Jogging" / "groundtruth_rect.1.txt", 307, sep="\t")
    _write_boxes(tmp_path / "Jogging" / "groundtruth_rect.2.txt", 307, sep=",", start=50)
    _touch_frames(tmp_path / "BlurCar3" / "img", [3], 4)
    _write_boxes(tmp_path / "BlurCar3" / "groundtruth_rect.txt", 357, sep=" ")
    _touch_frames(tmp_path / "Tiger1" / "img", [6], 4)
    _write_boxes(tmp_path / "Tiger1" / "groundtruth_rect.txt", 354)
    _touch_frames(tmp_path / "Board" / "img", [1], 5)
    _write_boxes(tmp_path / "Board" / "groundtruth_rect.txt", 698)
    seqs = {s.name: s for s in load_dataset("otb", tmp_path)}
    assert sorted(seqs) == ["BlurCar3", "Board", "Jogging_1", "Jogging_2", "Tiger1"]
    assert seqs["Jogging_2"].ground_truth_xywh[0, 0] == 50 and seqs["Jogging_1"].ground_truth_xywh[0, 0] == 1
    assert seqs["Jogging_1"].frames == seqs["Jogging_2"].frames and len(seqs["Jogging_1"]) == 307
    assert seqs["BlurCar3"].frames[0].endswith("img/0003.jpg") and seqs["BlurCar3"].frames[-1].endswith("0359.jpg")
    # Tiger1 omits the first 5 frames together with their annotation lines
    assert seqs["Tiger1"].frames[0].endswith("0006.jpg") and len(seqs["Tiger1"]) == 349
    assert seqs["Tiger1"].ground_truth_xywh[0, 0] == 6
    assert seqs["Board"].frames[0].endswith("img/00001.jpg")
    assert all(s.dataset == "otb" for s in seqs.values())


def test_otb_length_mismatch_names_the_file(tmp_path):
    _touch_frames(tmp_path / "Crossing" / "img", [1], 4)
    _write_boxes(tmp_path / "Crossing" / "groundtruth_rect.txt", 119)
    with pytest.raises(InputError, match="Crossing/groundtruth_rect.txt: 119 annotation lines"):
        load_dataset("otb", tmp_path)


def test_uav123_cut_sequences_and_nan_lines(tmp_path):
    _touch_frames(tmp_path / "data_seq" / "UAV123" / "car1", [1, 751, 1627], 6)
    _write_boxes(tmp_path / "anno" / "UAV123" / "car1_2.txt", 1627 - 751 + 1)
    gt = tmp_path / "anno" / "UAV123" / "car1_1.txt"
    _write_boxes(gt, 751)
    gt.write_text(gt.read_text().replace("5.0,6,10,20\n", "NaN,NaN,NaN,NaN\n"))
    seqs = {s.name: s for s in load_dataset("uav", tmp_path)}
    assert sorted(seqs) == ["uav_car1_1", "uav_car1_2"]
    assert seqs["uav_car1_2"].frames[0].endswith("car1/000751.jpg") and len(seqs["uav_car1_2"]) == 877
    assert np.isnan(seqs["uav_car1_1"].ground_truth_xywh[4]).all() and seqs["uav_car1_1"].dataset == "uav"


def test_nfs_layouts(tmp_path):
    _touch_frames(tmp_path / "nfs" / "sequences" / "bee", [1], 5)
    _write_boxes(tmp_path / "nfs" / "anno" / "nfs_bee.txt", 45, sep="\t")
    [bee] = load_dataset("nfs", tmp_path / "nfs")
    assert bee.name == "nfs_bee" and len(bee) == 45 and bee.frames[-1].endswith("sequences/bee/00045.jpg")

    # the layout as distributed: 240 fps annotation lines beside the 30 fps frames
    _touch_frames(tmp_path / "nfs_orig" / "bee" / "30" / "bee", range(1, 6), 5)
    lines = [f'1 {10 + i} 20 {30 + i} 50 {i + 1} 0 0 0 "bee"' for i in range(40)]
    (tmp_path / "nfs_orig" / "bee" / "30" / "bee.txt").write_text("\n".join(lines) + "\n")
    [orig] = load_dataset("nfs", tmp_path / "nfs_orig")
    assert orig.name == "nfs_bee" and len(orig) == 5
    np.testing.assert_array_equal(orig.ground_truth_xywh[:, 0], [10, 18, 26, 34, 42])
    np.testing.assert_array_equal(orig.ground_truth_xywh[0], [10, 20, 20, 30])


def test_otb_vot_uav_readers_on_shared_sequences(sequences_dir, tmp_path):
    otb = {s.name: s for s in load_dataset("otb", sequences_dir)}
    assert sorted(otb) == ["Couple", "Crossing", "Football1"] and len(otb["Football1"]) == 74
    [ball] = load_dataset("vot", sequences_dir, ["vot15_ball1"])
    poly = files.load_table(sequences_dir / "vot15_ball1" / "groundtruth.txt", ncols=8)
    np.testing.assert_allclose(ball.ground_truth_xywh[:, 0], poly[:, 0::2].min(1))
    # UAV123@10fps layout around the shared wakeboard10 frames
    (tmp_path / "data_seq" / "UAV123_10fps").mkdir(parents=True)
    (tmp_path / "data_seq" / "UAV123_10fps" / "wakeboard10").symlink_to(sequences_dir / "uav_wakeboard10" / "img")
    (tmp_path / "anno" / "UAV123_10fps").mkdir(parents=True)
    (tmp_path / "anno" / "UAV123_10fps" / "wakeboard10.txt").write_text(
        (sequences_dir / "uav_wakeboard10" / "groundtruth_rect.txt").read_text())
    [uav] = load_dataset("uav10fps", tmp_path)
    assert uav.name == "uav_wakeboard10" and len(uav) == 157 and uav.dataset == "uav"
    assert next(uav.images()).shape == (720, 1280, 3)
