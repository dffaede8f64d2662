"""ATOM pair sampling and processing: crops, jitter, proposals, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from atom_jax.data import synthetic
from atom_jax.data.sequence import Dataset, Sequence
from train import processing as P


def _ramp_image(h=60, w=80):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 3 % 256, y * 4 % 256, (x + y) % 256], axis=2).astype(np.uint8)


def test_crop_with_unit_factor_is_a_slice():
    im = _ramp_image()
    # sqrt(w h) * 2 = 20 = output size -> factor 1, window x1 = round(30 + 5 - 10) = 25, y1 = round(20 + 5 - 10) = 15
    crop, factor = P.crop_around(im, np.array([30.0, 20.0, 10.0, 10.0]), 2.0, 20)
    assert factor == 1.0
    np.testing.assert_array_equal(crop, im[15:35, 25:45])


def test_crop_padding_replicates_the_border_with_ltrs_extra_far_pixel():
    im = _ramp_image()
    # Window x in [-5, 15): five replicated columns on the left.
    crop, _ = P.crop_around(im, np.array([0.0, 20.0, 10.0, 10.0]), 2.0, 20)
    ref = np.pad(im, ((0, 0), (5, 0), (0, 0)), mode="edge")[15:35, 0:20]
    np.testing.assert_array_equal(crop, ref)
    # Window x in [60, 80) ends exactly at the border: ltr still pads one column on the right, i.e. the last
    # image column is dropped and column 78 is repeated.
    crop, _ = P.crop_around(im, np.array([65.0, 20.0, 10.0, 10.0]), 2.0, 20)
    np.testing.assert_array_equal(crop[:, :19], im[15:35, 60:79])
    np.testing.assert_array_equal(crop[:, 19], im[15:35, 78])


def test_crop_entirely_outside_replicates_the_nearest_pixel():
    im = _ramp_image()
    crop, _ = P.crop_around(im, np.array([500.0, 500.0, 4.0, 4.0]), 2.0, 8)
    assert np.all(crop == im[-1, -1])


def test_box_in_crop_maps_the_target_onto_its_pixels():
    im = np.zeros((200, 300, 3), np.uint8)
    box = np.array([120.0, 70.0, 40.0, 30.0])
    im[70:100, 120:160] = 255
    extract = np.array([110.0, 60.0, 44.0, 36.0])  # a jittered box
    crop, factor = P.crop_around(im, extract, 5.0, 288)
    b = P.box_in_crop(box, extract, factor, 288)
    x0, y0, x1, y1 = b[0], b[1], b[0] + b[2], b[1] + b[3]
    # Bright inside, dark outside (3 px margin: bilinear edges upscaled by 1.45, ltr's half-pixel convention).
    assert crop[int(y0) + 3:int(y1) - 3, int(x0) + 3:int(x1) - 3].min() > 200
    mask = np.ones(crop.shape[:2], bool)
    mask[max(0, int(y0) - 3):int(y1) + 4, max(0, int(x0) - 3):int(x1) + 4] = False
    assert crop[mask].max() < 30
    np.testing.assert_allclose(b[2:], box[2:] * factor)


def test_perturb_box_matches_the_iou_target_and_rounds():
    rng = np.random.default_rng(0)
    box = np.array([100.0, 80.0, 50.0, 30.0])
    ious = []
    for _ in range(300):
        prop, iou = P.perturb_box(rng, box, 0.1, (0.01, 0.05, 0.1, 0.2, 0.3))
        # Float64 reference IoU written out here.
        ix = max(0, min(box[0] + box[2], prop[0] + prop[2]) - max(box[0], prop[0]))
        iy = max(0, min(box[1] + box[3], prop[1] + prop[3]) - max(box[1], prop[1]))
        ref = ix * iy / (box[2] * box[3] + prop[2] * prop[3] - ix * iy)
        np.testing.assert_allclose(iou, ref, rtol=1e-12)
        assert iou > 0.1
        assert np.all(prop[:2] == np.round(prop[:2]))
        ious.append(iou)
    ious = np.array(ious)
    assert ious.max() > 0.9 and ious.min() < 0.5  # a spread of qualities, as the sigma list intends


def test_jitter_only_on_the_test_frame_and_bounded():
    cfg = P.ProcessingConfig(output_size=96, grayscale_prob=0.0, brightness_jitter=0.0)
    im = _ramp_image(300, 400)
    box = np.array([180.0, 130.0, 40.0, 40.0])
    offsets = []
    for i in range(60):
        out = P.process_pair(np.random.default_rng(i), im, box, im, box, cfg)
        tb = out["train_box_xywh"]
        # Train frame: no jitter, box centred (ltr centre (S-1)/2 of the box's x + w/2) with side S/5.
        np.testing.assert_allclose(tb[:2] + tb[2:] / 2, [47.5, 47.5], atol=1e-4)
        np.testing.assert_allclose(tb[2:], [96 / 5, 96 / 5], rtol=1e-3)
        te = out["test_box_xywh"]
        offsets.append(te[:2] + te[2:] / 2 - 47.5)
        # Uniform shift of at most 0.5 * 4.5 * sqrt(area) = 0.45 crop sides (ceil of the side adds slack).
        assert np.all(np.abs(offsets[-1]) <= 0.45 * 96 + 1)
    offsets = np.array(offsets)
    assert offsets.std() > 5  # jitter is really applied


def test_images_are_brightness_jittered_crops_in_pixel_range():
    cfg = P.ProcessingConfig(output_size=32, grayscale_prob=0.0, brightness_jitter=0.0)
    im = _ramp_image(100, 100)
    box = np.array([40.0, 40.0, 10.0, 10.0])
    out = P.process_pair(np.random.default_rng(0), im, box, im, box, cfg)
    crop, _ = P.crop_around(im, box, 5.0, 32)
    np.testing.assert_allclose(out["train_images"], crop, atol=1e-4)  # 0..255: the backbone normalises


def test_grayscale_is_joint():
    cfg = P.ProcessingConfig(output_size=32, grayscale_prob=1.0, brightness_jitter=0.0)
    im = _ramp_image(100, 100)
    out = P.process_pair(np.random.default_rng(0), im, np.array([40.0, 40, 10, 10]), im,
                         np.array([40.0, 40, 10, 10]), cfg)
    for k in ("train_images", "test_images"):
        np.testing.assert_allclose(out[k][..., 0], out[k][..., 1], atol=1e-3)


def _Toy(visible):
    """A video dataset of one sequence with chosen visibility, for the sampler."""
    v = np.asarray(visible, bool)
    seq = Sequence("toy", "toy", (), np.tile([1.0, 1, 5, 5], (len(v), 1)), target_visible=v,
                   source=lambda t: np.full((20, 20, 3), t, np.uint8))
    return Dataset("toy", ["toy"], lambda name: seq)


def test_sampler_pairs_visible_frames_within_the_gap():
    vis = np.zeros(300, bool)
    vis[::7] = True
    ds = _Toy(vis)
    rng = np.random.default_rng(1)
    gaps = []
    for _ in range(300):
        _, _, _, a, b = P.sample_pair(rng, [ds], [1.0], 50)
        assert vis[a] and vis[b] and -50 <= b - a < 50
        gaps.append(b - a)
    assert min(gaps) < -30 and max(gaps) > 30
    # Visible frames far apart: the window widens by 5 until one is found.
    vis2 = np.zeros(300, bool)
    vis2[[0, 100, 200, 250, 299]] = True
    for _ in range(50):
        _, _, _, a, b = P.sample_pair(rng, [_Toy(vis2)], [1.0], 50)
        assert vis2[a] and vis2[b]


def test_dataset_weights():
    rng = np.random.default_rng(2)
    a, b = _Toy(np.ones(30)), _Toy(np.ones(30))
    picks = [P.sample_pair(rng, [a, b], [3.0, 1.0], 50)[0] for _ in range(800)]
    assert abs(np.mean(np.array(picks) == 0) - 0.75) < 0.06


@pytest.fixture(scope="module")
def synthetic_ds():
    return synthetic.dataset(num=4, seed=0, config=synthetic.SyntheticConfig(num_frames=30, frame_wh=(96, 72)))


def test_batch_is_a_function_of_seed_and_step(synthetic_ds):
    cfg = dataclasses.replace(P.ProcessingConfig(), output_size=64)
    a = P.make_batch([synthetic_ds], [1.0], cfg, seed=0, step=3, batch_size=3)
    b = P.make_batch([synthetic_ds], [1.0], cfg, seed=0, step=3, batch_size=3)
    c = P.make_batch([synthetic_ds], [1.0], cfg, seed=0, step=4, batch_size=3)
    part = P.make_batch([synthetic_ds], [1.0], cfg, seed=0, step=3, batch_size=3, indices=[1, 2])
    assert a["train_images"].shape == (3, 64, 64, 3) and a["train_images"].dtype == np.float32
    assert a["proposals_xywh"].shape == (3, 16, 4) and a["proposal_iou"].shape == (3, 16)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        np.testing.assert_array_equal(a[k][1:], part[k])
    assert not np.array_equal(a["proposals_xywh"], c["proposals_xywh"])
    assert np.all(a["proposal_iou"] > -0.8) and np.all(a["proposal_iou"] <= 1)


# --- training from a generic folder of sequences -------------------------------------------------------------


def _write_generic_folder(root, n=24):
    """Three sequences in the three folder layouts the generic reader takes: the layout of ../shared/data/train
    (``img/00001.jpg``, comma-separated ``groundtruth.txt`` with ``0,0,0,0`` absent frames, grayscale JPEGs), OTB
    (``groundtruth_rect.txt``, tab separated) and VOT (8-value polygons, frames in ``color/``)."""
    import cv2

    rng = np.random.default_rng(0)
    boxes = np.array([[10 + t, 8 + t // 2, 20, 16] for t in range(n)], float)
    for name, sub, digits, gt_name, gray in (("gray", "img", 5, "groundtruth.txt", True),
                                             ("otb", "img", 4, "groundtruth_rect.txt", False),
                                             ("vot", "color", 8, "groundtruth.txt", False)):
        (root / name / sub).mkdir(parents=True)
        for t in range(n):
            image = rng.integers(0, 256, (48, 64) if gray else (48, 64, 3), dtype=np.uint8)
            cv2.imwrite(str(root / name / sub / f"{t + 1:0{digits}d}.jpg"), image)
        rows = boxes.copy()
        if name == "gray":
            rows[[5, 6]] = 0  # target absent
            lines = [",".join(f"{v:.2f}" for v in r) for r in rows]
        elif name == "otb":
            lines = ["\t".join(f"{v:g}" for v in r) for r in rows]
        else:
            x, y, w, h = rows.T
            poly = np.stack([x, y, x + w, y, x + w, y + h, x, y + h], axis=1)
            lines = [",".join(f"{v:g}" for v in r) for r in poly]
        (root / name / gt_name).write_text("\n".join(lines) + "\n")
    return boxes


def test_generic_folder_trains_with_a_name_subset(tmp_path):
    from atom_jax.data import registry
    from atom_jax.errors import InputError
    from train import pipeline

    boxes = _write_generic_folder(tmp_path / "seqs")
    spec = {"kind": "generic", "root": str(tmp_path / "seqs")}
    ds = registry.open_dataset(spec)
    assert ds.names == ("gray", "otb", "vot") and ds.is_video
    for seq in ds:
        np.testing.assert_allclose(seq.ground_truth_xywh[7:], boxes[7:], atol=0.01)
        assert seq.frame(3).shape == (48, 64, 3) and seq.frame(3).dtype == np.uint8
    gray = ds[0]
    assert (gray.frame(0)[..., 0] == gray.frame(0)[..., 2]).all()  # a grayscale JPEG becomes RGB
    np.testing.assert_array_equal(np.flatnonzero(~gray.visible), [5, 6])  # 0,0,0,0: target absent
    assert ds[1].visible.all() and ds[2].visible.all()

    held_in = registry.open_dataset({**spec, "exclude": ["vot"]})
    assert held_in.names == ("gray", "otb")
    assert registry.open_dataset({**spec, "names": ["vot", "otb"]}).names == ("vot", "otb")
    with pytest.raises(InputError, match="sequences not in generic.*: votx"):
        registry.open_dataset({**spec, "exclude": ["votx"]})
    rng = np.random.default_rng(0)
    picked = {held_in[P.sample_pair(rng, [held_in], [1.0], 50)[1]].name for _ in range(40)}
    assert picked == {"gray", "otb"}

    train_spec = {"datasets": [{**spec, "names": ["gray", "otb"]}], "weights": [1.0], "seed": 0, "stream": 0,
                  "processing": {"output_size": 32, "search_area_factor": 2.0}}
    (step, batch), = pipeline.batches(train_spec, [0], batch_size=4)
    assert step == 0 and batch["train_images"].shape == (4, 32, 32, 3) and batch["proposals_xywh"].shape == (4, 16, 4)
    assert np.isfinite(batch["test_images"]).all() and (batch["proposal_iou"] > -0.8).all()


def test_shared_training_sequences_as_a_generic_folder(train_sequences_dir):
    from atom_jax.data import registry

    ds = registry.open_dataset({"kind": "generic", "root": str(train_sequences_dir)})
    assert len(ds) == 49 and ds.is_video
    group = ds[ds.names.index("uav_group2_2")]
    np.testing.assert_array_equal(group.ground_truth_xywh[85:88], 0)  # kept frames 86-88: target absent
    assert not group.visible[85:88].any() and group.visible[:85].all()
    car = ds[ds.names.index("Car4")]  # grayscale JPEGs
    assert car.frame(0).shape == (240, 360, 3) and len(car) == len(car.ground_truth_xywh)
    val = ["Biker", "Girl", "vot14_bicycle"]
    train = registry.open_dataset({"kind": "generic", "root": str(train_sequences_dir), "exclude": val})
    assert len(train) == 46 and not set(val) & set(train.names)
    cfg = dataclasses.replace(P.ProcessingConfig(), output_size=64)
    batch = P.make_batch([train], [1.0], cfg, seed=0, step=0, batch_size=2)
    assert batch["train_images"].shape == (2, 64, 64, 3) and np.isfinite(batch["test_images"]).all()
