"""The synthetic sequence generator: determinism, exact ground truth, the written folder layout."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from atom_jax.data import registry, synthetic
from atom_jax.errors import InputError

CFG = synthetic.SyntheticConfig(num_frames=30, frame_wh=(160, 120))


@pytest.fixture(scope="module")
def images():
    return synthetic.bundled_images()


def test_bundled_images_are_rgb_uint8(images):
    assert len(images) >= 10
    for im in images:
        assert im.dtype == np.uint8 and im.ndim == 3 and im.shape[2] == 3


def test_same_seed_same_frames_other_seed_differs(images):
    a = synthetic.make_sequence(7, images, CFG)
    b = synthetic.make_sequence(7, images, CFG)
    c = synthetic.make_sequence(8, images, CFG)
    np.testing.assert_array_equal(a.boxes_xywh, b.boxes_xywh)
    np.testing.assert_array_equal(synthetic.render_frame(a, 11), synthetic.render_frame(b, 11))
    assert not np.array_equal(a.boxes_xywh, c.boxes_xywh)
    # Rendering is random-access: frame 11 does not depend on which frames were rendered before.
    frames = [f for f, _ in synthetic.iter_frames(a)]
    np.testing.assert_array_equal(frames[11], synthetic.render_frame(a, 11))


def test_boxes_inside_frame_and_the_target_moves_and_changes_size(images):
    seq = synthetic.make_sequence(3, images, dataclasses.replace(CFG, num_frames=80))
    b = seq.boxes_xywh
    fw, fh = CFG.frame_wh
    assert b.shape == (80, 4) and seq.visible.shape == (80,)
    assert np.all(b[:, :2] >= 0) and np.all(b[:, 0] + b[:, 2] <= fw + 1e-9) and np.all(b[:, 1] + b[:, 3] <= fh + 1e-9)
    assert seq.visible.mean() > 0.5
    centers = b[:, :2] + b[:, 2:] / 2
    assert np.ptp(centers, axis=0).max() > 10  # it travels
    area = b[:, 2] * b[:, 3]
    assert area.max() / area.min() > 1.1  # its size changes (scale, aspect, rotation)


@pytest.mark.parametrize("seed", [0, 1, 2, 5])
def test_box_is_the_bound_of_the_rendered_target(images, seed):
    """Render only the target, as a white sprite on black, and compare its pixel bound with the box."""
    cfg = dataclasses.replace(CFG, motion_blur=False)
    seq = synthetic.make_sequence(seed, images, cfg)
    white = seq.target._replace(patch=np.full_like(seq.target.patch, 255))
    for t in (0, 13, 29):
        canvas = np.zeros((cfg.frame_wh[1], cfg.frame_wh[0], 3), np.float32)
        synthetic._draw_layer(canvas, white, t, blur=False)
        ys, xs = np.nonzero(canvas[:, :, 0] > 127)
        x, y, w, h = seq.boxes_xywh[t]
        # Pixel-bound vs continuous polygon bound: the half-covered boundary pixels differ by at most ~1 px.
        np.testing.assert_allclose([xs.min(), ys.min()], [x, y], atol=1.5)
        np.testing.assert_allclose([xs.max() + 1, ys.max() + 1], [x + w, y + h], atol=1.5)


def test_occluder_hides_target_when_marked_invisible(images):
    found = False
    for seed in range(40):
        seq = synthetic.make_sequence(seed, images, CFG)
        if (~seq.visible).any():
            found = True
            break
    assert found, "no occlusion in 40 sequences: the occluder never crosses the target"


def test_write_sequence_layout(images, tmp_path):
    seq = synthetic.make_sequence(1, images, dataclasses.replace(CFG, num_frames=5))
    folder = synthetic.write_sequence(seq, tmp_path / "seq")
    files = sorted(p.name for p in (folder / "img").iterdir())
    assert files == [f"{i:04d}.jpg" for i in range(1, 6)]
    gt = np.loadtxt(folder / "groundtruth_rect.txt", delimiter=",")
    np.testing.assert_allclose(gt, seq.boxes_xywh, atol=0.006)
    frame = cv2.cvtColor(cv2.imread(str(folder / "img" / "0003.jpg")), cv2.COLOR_BGR2RGB)
    assert np.abs(frame.astype(float) - synthetic.render_frame(seq, 2)).mean() < 4  # JPEG, RGB order kept


def test_folder_images_and_errors(tmp_path, images):
    with pytest.raises(InputError, match="at least 2"):
        synthetic.folder_images(tmp_path)
    for i in range(2):
        cv2.imwrite(str(tmp_path / f"{i}.png"), images[i][:, :, ::-1])
    got = synthetic.folder_images(tmp_path)
    assert len(got) == 2 and got[0].shape[2] == 3
    with pytest.raises(InputError):
        synthetic.make_sequence(0, images[:1], CFG)
    with pytest.raises(InputError):
        synthetic.render_frame(synthetic.make_sequence(0, images, CFG), CFG.num_frames)


def test_synthetic_dataset_is_deterministic():
    cfg = {"num_frames": 25, "frame_wh": [96, 72]}
    a, b = registry.open_datasets([{"kind": "synthetic", "num": 5, "seed": 3, "config": cfg}] * 2)
    np.testing.assert_array_equal(a[4].ground_truth_xywh, b[4].ground_truth_xywh)
    np.testing.assert_array_equal(a[4].frame(10), b[4].frame(10))
    assert a[4].frame(10).shape == (72, 96, 3)
    assert not np.array_equal(a[3].ground_truth_xywh, a[4].ground_truth_xywh)
