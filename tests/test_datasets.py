"""Dataset readers on small layouts built here, malformed files, image decoding, and the shared sequences."""

from __future__ import annotations

import pathlib

import cv2
import numpy as np
import pytest

from atom_jax.errors import InputError
from track import datasets, files
from track.datasets import load_dataset, polygon_to_xywh


def _touch_frames(folder: pathlib.Path, numbers, digits: int, ext: str = "jpg"):
    folder.mkdir(parents=True, exist_ok=True)
    for i in numbers:
        (folder / f"{i:0{digits}d}.{ext}").write_bytes(b"")


def _write_boxes(path: pathlib.Path, n: int, sep: str = ",", start: float = 1.0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [sep.join(str(v) for v in (start + i, 2 + i, 10, 20)) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")


def _write_image(path: pathlib.Path, image_bgr):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image_bgr)


# --- text files --------------------------------------------------------------------------------------------

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


def test_atomic_write_leaves_no_partial_file(tmp_path):
    files.atomic_write_text(tmp_path / "sub" / "a.txt", "hello\n")
    assert (tmp_path / "sub" / "a.txt").read_text() == "hello\n"
    assert [p.name for p in (tmp_path / "sub").iterdir()] == ["a.txt"]


# --- polygons ----------------------------------------------------------------------------------------------

def test_polygon_conversions_hand_computed():
    # a 4x2 rectangle rotated by 90 degrees about nothing: corners (0,0) (0,4) (2,4) (2,0)
    square = np.array([[0.0, 0, 0, 4, 2, 4, 2, 0]])
    np.testing.assert_allclose(polygon_to_xywh(square), [[0, 0, 2, 4]])
    # axis-aligned: preserve_area has scale 1, size + 1, centred on the corner mean (1, 2)
    np.testing.assert_allclose(polygon_to_xywh(square, "preserve_area"), [[-0.5, -0.5, 3, 5]])
    # a diamond of side sqrt(2) * 2: area 8, bounding box 4x4 -> scale sqrt(8/16)
    diamond = np.array([[2.0, 0, 4, 2, 2, 4, 0, 2]])
    np.testing.assert_allclose(polygon_to_xywh(diamond), [[0, 0, 4, 4]])
    s = np.sqrt(0.5) * 4 + 1
    np.testing.assert_allclose(polygon_to_xywh(diamond, "preserve_area"), [[2 - s / 2, 2 - s / 2, s, s]])
    np.testing.assert_array_equal(polygon_to_xywh(np.array([[1.0, 2, 3, 4]])), [[1, 2, 3, 4]])


# --- benchmark layouts ---------------------------------------------------------------------------------------

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


def test_nfs_lasot_layouts(tmp_path):
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


def test_vot_polygons_and_list(tmp_path):
    d = tmp_path / "ball"
    _touch_frames(d / "color", [1, 2], 8)
    (d / "groundtruth.txt").write_text("0,0,0,4,2,4,2,0\n1,1,1,5,3,5,3,1\n")
    (tmp_path / "list.txt").write_text("ball\n")
    [seq] = load_dataset("vot", tmp_path)
    assert seq.dataset == "vot" and seq.frames[0].endswith("color/00000001.jpg")
    np.testing.assert_allclose(seq.ground_truth_xywh, [[0, 0, 2, 4], [1, 1, 2, 4]])


def test_generic_and_video(tmp_path):
    frames = []
    for i in range(4):
        img = np.zeros((32, 48, 3), np.uint8)
        img[8:16, 4 + 5 * i: 12 + 5 * i] = 255
        _write_image(tmp_path / "seq" / "img" / f"{i + 1:04d}.png", img)
        frames.append(img)
    _write_boxes(tmp_path / "seq" / "groundtruth_rect.txt", 4)
    [seq] = load_dataset("generic", tmp_path)
    images = list(seq.images())
    assert len(images) == 4 and images[0].shape == (32, 48, 3)
    np.testing.assert_array_equal(images[2], frames[2])

    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (48, 32))
    for img in frames:
        writer.write(img)
    writer.release()
    [vs] = datasets.read_video(video, init_box_xywh=[4, 8, 8, 8])
    decoded = list(vs.images())
    assert len(vs) == 4 and len(decoded) == 4 and decoded[1].shape == (32, 48, 3)
    assert np.abs(decoded[1].astype(int) - frames[1]).mean() < 8  # lossy MJPG
    assert np.isnan(vs.ground_truth_xywh[1:]).all()
    _write_boxes(tmp_path / "clip.txt", 4)  # an annotation beside the video is its ground truth
    [annotated] = load_dataset("video", video)
    assert annotated.ground_truth_xywh.shape == (4, 4) and annotated.dataset == "video"


def test_unknown_dataset_and_missing_sequences(tmp_path):
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("otb2013", tmp_path)
    with pytest.raises(InputError, match="no otb sequences"):
        load_dataset("otb", tmp_path)


# --- the shared real sequences ---------------------------------------------------------------------------------

def test_generic_reader_on_shared_sequences(sequences_dir):
    seqs = {s.name: s for s in load_dataset("generic", sequences_dir)}
    lengths = {n: len(s) for n, s in seqs.items()}
    assert lengths == {"Couple": 140, "Crossing": 120, "Football1": 74, "uav_wakeboard10": 157, "vot15_ball1": 105}
    np.testing.assert_array_equal(seqs["Crossing"].init_box_xywh, [205, 151, 17, 50])
    image = next(seqs["vot15_ball1"].images())
    assert image.shape == (720, 1280, 3) and image.dtype == np.uint8


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


def test_read_ahead_keeps_order_errors_and_stops():
    import threading
    import time

    from track.files import read_ahead

    assert list(read_ahead(iter(range(10)), depth=3)) == list(range(10))
    assert list(read_ahead(iter(range(4)), depth=0)) == [0, 1, 2, 3]

    def failing():
        yield 1
        yield 2
        raise InputError("frame3.jpg: cannot read image")

    got = []
    with pytest.raises(InputError, match="frame3.jpg"):
        for item in read_ahead(failing(), depth=2):
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
    gen = read_ahead(endless(), depth=2)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # the consumer stops early: the producer thread ends
    deadline = time.time() + 5
    while threading.active_count() > before and time.time() < deadline:
        time.sleep(0.01)
    assert threading.active_count() == before
    assert len(produced) <= 3 + 2 + 2  # read at most depth (+ the one in flight) ahead
