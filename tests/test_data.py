"""Dataset readers on tiny layouts built by the tests."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from atom_jax.errors import InputError
from train import data


def _img(path, value, hw=(24, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = np.zeros((*hw, 3), np.uint8)
    im[..., 2] = value  # BGR on disk: red, so RGB channel 0 after reading checks the conversion
    cv2.imwrite(str(path), im)


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
    ds = data.Lasot(tmp_path)
    assert ds.names == ("cat-3",) and ds.num_sequences() == 1 and ds.is_video
    info = ds.sequence(0)
    np.testing.assert_allclose(info.boxes_xywh, boxes)
    np.testing.assert_array_equal(info.visible, [1, 1, 0, 1, 0, 0])
    frame = ds.frame(0, 2)
    assert frame.shape == (24, 32, 3) and abs(int(frame[0, 0, 0]) - 80) <= 2 and frame[0, 0, 2] <= 2


def test_got10k_layout(tmp_path):
    seq = tmp_path / "GOT-10k_Train_000001"
    seq.mkdir(parents=True)
    (tmp_path / "list.txt").write_text("GOT-10k_Train_000001\n")
    np.savetxt(seq / "groundtruth.txt", _boxes(4), fmt="%g", delimiter=",")
    (seq / "absence.label").write_text("0\n1\n0\n0\n")
    (seq / "cover.label").write_text("8\n0\n0\n3\n")
    _img(seq / "00000002.jpg", 200)
    ds = data.Got10k(tmp_path)
    np.testing.assert_array_equal(ds.sequence(0).visible, [1, 0, 0, 1])
    assert ds.frame(0, 1)[0, 0, 0] >= 198


def test_trackingnet_layout(tmp_path):
    (tmp_path / "TRAIN_0" / "anno").mkdir(parents=True)
    np.savetxt(tmp_path / "TRAIN_0" / "anno" / "abc.txt", _boxes(3), fmt="%g", delimiter=",")
    _img(tmp_path / "TRAIN_0" / "frames" / "abc" / "0.jpg", 10)
    ds = data.TrackingNet(tmp_path, chunks=(0,))
    assert ds.names == ((0, "abc"),) and ds.sequence(0).visible.all()
    assert ds.frame(0, 0).shape == (24, 32, 3)
    with pytest.raises(InputError, match="TRAIN_1"):
        data.TrackingNet(tmp_path, chunks=(0, 1))


def test_coco_annotations(tmp_path):
    (tmp_path / "annotations").mkdir()
    ann = {"images": [{"id": 7, "file_name": "a.jpg"}],
           "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "iscrowd": 0},
                           {"image_id": 7, "bbox": [0, 0, 9, 9], "iscrowd": 1},
                           {"image_id": 7, "bbox": [5, 5, 2, 2], "iscrowd": 0}]}
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(ann))
    _img(tmp_path / "images" / "train2017" / "a.jpg", 90)
    ds = data.CocoSeq(tmp_path)
    assert ds.num_sequences() == 2 and not ds.is_video  # the crowd annotation is skipped
    np.testing.assert_allclose(ds.sequence(1).boxes_xywh, [[5, 5, 2, 2]])
    assert ds.frame(0, 0).shape == (24, 32, 3)


def test_coco_tfds_not_prepared_is_a_clear_error(tmp_path):
    pytest.importorskip("tensorflow_datasets")
    with pytest.raises(InputError, match="not prepared.*tfds build coco/2017"):
        data.CocoTfds(split="train", data_dir=str(tmp_path))


def test_missing_and_malformed_inputs(tmp_path):
    with pytest.raises(InputError, match="LaSOT root"):
        data.Lasot(tmp_path / "nope")
    (tmp_path / "bad.txt").write_text("1,2,3\n")
    with pytest.raises(InputError, match="4 numbers"):
        data.read_boxes(tmp_path / "bad.txt")
    with pytest.raises(InputError, match="cannot read image"):
        data.read_image(tmp_path / "none.jpg")
    with pytest.raises(InputError, match="unknown dataset kind"):
        data.build_datasets([{"kind": "imagenet"}])


def test_synthetic_dataset_is_deterministic():
    cfg = {"num_frames": 25, "frame_wh": [96, 72]}
    a, b = data.build_datasets([{"kind": "synthetic", "num": 5, "seed": 3, "config": cfg}] * 2)
    np.testing.assert_array_equal(a.sequence(4).boxes_xywh, b.sequence(4).boxes_xywh)
    np.testing.assert_array_equal(a.frame(4, 10), b.frame(4, 10))
    assert a.frame(4, 10).shape == (72, 96, 3)
    assert not np.array_equal(a.sequence(3).boxes_xywh, a.sequence(4).boxes_xywh)
