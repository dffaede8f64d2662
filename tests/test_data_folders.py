"""atom_jax.data.folders: generic OTB/VOT-style folders, VOT lists, videos, polygons; the shared sequences."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from atom_jax.data import folders
from atom_jax.data.folders import polygon_to_xywh
from atom_jax.data.registry import load_dataset, open_dataset
from atom_jax.errors import InputError
from tests.layouts import _touch_frames, _write_boxes, _write_image


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
    [vs] = folders.video(video, init_box_xywh=[4, 8, 8, 8])
    decoded = list(vs.images())
    assert len(vs) == 4 and len(decoded) == 4 and decoded[1].shape == (32, 48, 3)
    assert np.abs(decoded[1].astype(int) - frames[1]).mean() < 8  # lossy MJPG
    np.testing.assert_array_equal(vs.frame(1), decoded[1])  # random access decodes the same frame
    assert np.isnan(vs.ground_truth_xywh[1:]).all()
    _write_boxes(tmp_path / "clip.txt", 4)  # an annotation beside the video is its ground truth
    [annotated] = load_dataset("video", video)
    assert annotated.ground_truth_xywh.shape == (4, 4) and annotated.dataset == "video"


def test_generic_reader_on_shared_sequences(sequences_dir):
    seqs = {s.name: s for s in load_dataset("generic", sequences_dir)}
    lengths = {n: len(s) for n, s in seqs.items()}
    assert lengths == {"Couple": 140, "Crossing": 120, "Football1": 74, "uav_wakeboard10": 157, "vot15_ball1": 105}
    np.testing.assert_array_equal(seqs["Crossing"].init_box_xywh, [205, 151, 17, 50])
    image = next(seqs["vot15_ball1"].images())
    assert image.shape == (720, 1280, 3) and image.dtype == np.uint8


def test_malformed_annotation_in_a_training_folder_names_file_and_line(tmp_path):
    _touch_frames(tmp_path / "seq" / "img", [1, 2, 3], 5)
    (tmp_path / "seq" / "groundtruth.txt").write_text("1,2,3,4\n0,0,0,0\n5,6,7\n")
    ds = open_dataset({"kind": "generic", "root": tmp_path})  # annotations are read when a sequence is used
    with pytest.raises(InputError, match=r"seq/groundtruth.txt:3: expected 4 or 8 values, got 3"):
        ds[0]
