"""atom_jax.data.coco: COCO instance annotations (json) and COCO through tensorflow-datasets."""

from __future__ import annotations

import json
import pathlib

import cv2
import numpy as np
import pytest

from atom_jax.data import coco
from atom_jax.errors import InputError
from tests.layouts import _img


def test_coco_annotations(tmp_path):
    (tmp_path / "annotations").mkdir()
    ann = {"images": [{"id": 7, "file_name": "a.jpg"}],
           "annotations": [{"image_id": 7, "bbox": [1, 2, 3, 4], "iscrowd": 0},
                           {"image_id": 7, "bbox": [0, 0, 9, 9], "iscrowd": 1},
                           {"image_id": 7, "bbox": [5, 5, 2, 2], "iscrowd": 0}]}
    (tmp_path / "annotations" / "instances_train2017.json").write_text(json.dumps(ann))
    _img(tmp_path / "images" / "train2017" / "a.jpg", 90)
    ds = coco.coco(tmp_path)
    assert len(ds) == 2 and not ds.is_video  # the crowd annotation is skipped
    np.testing.assert_allclose(ds[1].ground_truth_xywh, [[5, 5, 2, 2]])
    assert ds[0].frame(0).shape == (24, 32, 3)


_NO_TFDS = "tensorflow-datasets not installed (pip install -e '.[train]')"


def test_coco_tfds_not_prepared_is_a_clear_error(tmp_path):
    pytest.importorskip("tensorflow_datasets", reason=_NO_TFDS)
    with pytest.raises(InputError, match="not prepared.*tfds build coco/2017"):
        coco.coco_tfds(split="train", data_dir=str(tmp_path))


def _write_tfds_coco(data_dir, examples):
    """``examples`` (list of (RGB image, [(x, y, w, h, is_crowd), ...])) as the ``train`` split of a ``coco/2017``
    array_record dataset under ``data_dir``, with the feature layout of tfds's COCO builder (no TensorFlow:
    images go in as PNG bytes, which tfds stores as they are)."""
    import tensorflow_datasets as tfds

    class Coco(tfds.core.GeneratorBasedBuilder, skip_registration=True):  # registered, it would shadow tfds's coco
        VERSION = tfds.core.Version("0.0.1")  # not a published version: nothing to look up on GCS
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="2017")]
        # No checksums file to look for next to the code; finding one needs `importlib_resources`, which
        # tensorflow-datasets 4.9.10 imports without declaring it (tensorflow/datasets#11212).
        code_path = None

        def _info(self):
            return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(encoding_format="png"),
                "image/filename": tfds.features.Text(),
                "image/id": np.int64,
                "objects": tfds.features.Sequence({
                    "id": np.int64,
                    "area": np.int64,
                    "bbox": tfds.features.BBoxFeature(),
                    "label": tfds.features.ClassLabel(num_classes=80),
                    "is_crowd": np.bool_,
                }),
            }))

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples()}

        def _generate_examples(self):
            for k, (image, objects) in enumerate(examples):
                h, w = image.shape[:2]
                yield k, {
                    "image": cv2.imencode(".png", image[..., ::-1])[1].tobytes(),
                    "image/filename": f"{k:012d}.png",
                    "image/id": k,
                    "objects": {
                        "id": [10 * k + j for j in range(len(objects))],
                        "area": [int(bw * bh) for _, _, bw, bh, _ in objects],
                        "bbox": [tfds.features.BBox(ymin=y / h, xmin=x / w, ymax=(y + bh) / h, xmax=(x + bw) / w)
                                 for x, y, bw, bh, _ in objects],
                        "label": [j % 80 for j in range(len(objects))],
                        "is_crowd": [bool(c) for *_, c in objects],
                    },
                }

    Coco(data_dir=str(data_dir), file_format="array_record").download_and_prepare()


def test_coco_tfds_reads_images_and_boxes(tmp_path, monkeypatch):
    pytest.importorskip("tensorflow_datasets", reason=_NO_TFDS)
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # tfds leaves an empty mkdtemp folder per builder
    rng = np.random.default_rng(5)
    examples = [
        (rng.integers(0, 256, (24, 32, 3), dtype=np.uint8),
         [(4, 2, 10, 8, False), (0, 0, 16, 12, True), (20, 10, 8, 12, False)]),
        (rng.integers(0, 256, (16, 20, 3), dtype=np.uint8), [(5, 3, 6, 9, False)]),
        (rng.integers(0, 256, (12, 12, 3), dtype=np.uint8), []),  # COCO has images without objects
    ]
    _write_tfds_coco(tmp_path / "tfds", examples)
    assert (tmp_path / "tfds" / "coco" / "2017" / "0.0.1" / "dataset_info.json").is_file()

    ds = coco.coco_tfds(split="train", data_dir=str(tmp_path / "tfds"))
    assert len(ds) == 3 and not ds.is_video
    seen = set()
    for i in range(3):  # tfds shuffles the records: find each one's example by its (exact, PNG) pixels
        frame = ds[i].frame(0)
        assert frame.dtype == np.uint8 and frame.flags.c_contiguous
        k = next(k for k, (image, _) in enumerate(examples) if np.array_equal(frame, image))
        seen.add(k)
        image, objects = examples[k]
        info = ds[i]
        assert info.ground_truth_xywh.shape == (len(objects), 4) and info.visible.shape == (len(objects),)
        # boxes are stored as float32 normalised coordinates
        np.testing.assert_allclose(info.ground_truth_xywh, np.array([o[:4] for o in objects], float).reshape(-1, 4),
                                   atol=1e-4)
        np.testing.assert_array_equal(info.visible, [not o[4] for o in objects])  # crowd objects are invalid
        for t in range(len(objects)):
            np.testing.assert_array_equal(ds[i].frame(t), image)
    assert seen == {0, 1, 2}


def test_tfds_newest_version_folder_is_chosen_numerically():
    names = ["1.9.0", "1.10.0", "incomplete.tmp", "1.2.3"]
    assert max((pathlib.Path(n) for n in names), key=coco.version_key).name == "1.10.0"


def test_image_list_every_box_is_a_one_frame_sequence(tmp_path):
    import cv2

    from atom_jax.data.registry import open_dataset

    image = np.zeros((40, 60, 3), np.uint8)
    image[10:20, 5:25] = (0, 0, 255)  # red in BGR
    cv2.imwrite(str(tmp_path / "a.png"), image)
    (tmp_path / "annotations.json").write_text(json.dumps([
        {"file": "a.png", "boxes": [[5, 10, 20, 10], [0, 0, 0, 5]], "labels": ["x", "empty"]}]))
    ds = open_dataset({"kind": "images", "root": str(tmp_path)})
    assert not ds.is_video and ds.names == ("a_0",)  # the zero-width box is skipped
    seq = ds[0]
    np.testing.assert_array_equal(seq.ground_truth_xywh, [[5, 10, 20, 10]])
    assert tuple(seq.frame(0)[15, 10]) == (255, 0, 0)  # decoded as RGB
    (tmp_path / "annotations.json").write_text("[{\"file\": \"a.png\"}]")
    with pytest.raises(InputError, match="annotations.json: entry 0 needs 'file' and 'boxes'"):
        open_dataset({"kind": "images", "root": str(tmp_path)})
    with pytest.raises(InputError, match="image annotations not found"):
        open_dataset({"kind": "images", "root": str(tmp_path / "missing")})
