"""Frame 1 of Crossing against pytracking's own ATOM run (``../shared/reference/pytracking_atom_seed0``).

From the decoded frame and the first ground-truth box, the samples are cut exactly as pytracking's ATOM
``initialize`` cuts them (unrounded ``pos``, ``target_scale``, the 576x576 expanded patch, the 23 transforms)
and go through the shared random-weight checkpoint. Compared, relative L2 error ``|a - b| / |b|`` <= 1e-4:
backbone ``layer3`` of all 23 augmented samples (identity, 4 shifts, flip, 5 blurs, 12 rotations), ``layer2`` of
the first three, the IoU-Net test-branch features of the identity sample and the modulation vectors.

The flip, blur and rotation samples carry random shifts drawn by pytracking's torch RNG. They are recovered from
the recorded labels ``init_label_y``: sample ``i``'s Gaussian label is centred at the target's position moved
by ``shift_i * 18 / 288`` feature cells, and the shifts are integers, so a quadratic fit to the log-label of each
sample gives them exactly (the four fixed relative shifts recovered the same way check the method).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import augment
from atom_jax.image import normalize

pytestmark = pytest.mark.reference

BOUND = 1e-4
SAMPLE = 288                       # img_sample_sz for atom/default (asserted below)
FEATURE = 18                       # layer3 feature size of a 288 sample


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


def label_centre(label):
    """Centre (row, col) of a separable Gaussian ``exp(-(k - c)^2 / (2 s^2))`` from a quadratic fit of its log."""
    centre = []
    for axis in (0, 1):
        profile = label.max(axis=1 - axis).astype(np.float64)    # the peak row / column: no underflow there
        keep = profile > 1e-30
        k = np.arange(label.shape[axis], dtype=np.float64)[keep]
        a, b, _ = np.polyfit(k, np.log(profile[keep]), 2)
        centre.append(-b / (2 * a))
    return np.asarray(centre)


def recovered_shifts_xy(labels, count):
    """Integer (x, y) shift of each of the first ``count`` samples relative to sample 0 (the identity)."""
    centres = np.stack([label_centre(labels[i, 0]) for i in range(count)])
    shifts_yx = (centres - centres[0]) * SAMPLE / FEATURE
    rounded = np.round(shifts_yx)
    assert np.abs(shifts_yx - rounded).max() < 1e-2, "labels are not centred on integer shifts"
    return rounded[:, ::-1].astype(np.int32)


@pytest.fixture(scope="module")
def frame1(reference_dir, sequences_dir):
    from atom_jax.weights import load_weights
    from atom_jax.data.files import read_image_rgb

    data = dict(np.load(reference_dir / "crossing_frame1.npz"))
    image = read_image_rgb(sequences_dir / "Crossing" / "img" / "0001.jpg")
    first = (sequences_dir / "Crossing" / "groundtruth_rect.txt").read_text().split("\n")[0]
    box = [float(v) for v in first.replace(",", " ").split()]
    return data, image, box, load_weights(reference_dir / "atom_random_seed0.pth")


def pytracking_init_geometry(box):
    """``pos`` (x, y), ``target_sz`` (w, h) and ``target_scale`` exactly as ATOM's ``initialize`` makes them."""
    x, y, w, h = box
    center_xy = np.asarray([x + (w - 1) / 2, y + (h - 1) / 2], np.float32)       # torch.Tensor(...) rounding
    size_wh = np.asarray([w, h], np.float32)
    search_area = float(np.prod(size_wh * np.float32(5), dtype=np.float32))
    scale = math.sqrt(search_area / SAMPLE ** 2)        # min = max image sample size: always rescaled
    base = size_wh / np.float32(scale)
    sample_size = np.round(np.sqrt(np.prod(base * np.float32(5), dtype=np.float32)))
    assert sample_size == SAMPLE
    return center_xy, size_wh, scale


@jax.jit
def _features(weights, images):
    from atom_jax import backbone, iou_net

    feats = backbone.backbone_features(weights["backbone"], normalize(images), ("layer2", "layer3"))
    c3, c4 = iou_net.get_iou_feat(weights["iou_net"], {k: v[:1] for k, v in feats.items()})
    return feats, c3, c4


@jax.jit
def _samples(image, center_xy, scale, shifts_xy):
    transforms = augment.transforms_from_pytracking(augment.PYTRACKING_ATOM_AUGMENTATION, (SAMPLE, SAMPLE))
    return augment.init_augmentations(image, center_xy, scale, transforms, shifts_xy, (SAMPLE, SAMPLE), 2)


def test_decoded_frame_equals_recorded_image(frame1):
    data, image, _, _ = frame1
    assert image.dtype == np.uint8 and image.shape == data["image"].shape
    np.testing.assert_array_equal(image, data["image"])


def test_iou_target_box(frame1):
    """pytracking's ``get_iounet_box(pos, target_sz, pos.round(), target_scale)`` in sample coordinates."""
    data, _, box, _ = frame1
    center_xy, size_wh, scale = pytracking_init_geometry(box)
    box_center = (center_xy - np.round(center_xy)) / np.float32(scale) + np.float32((SAMPLE - 1) / 2)
    box_size = size_wh / np.float32(scale)
    np.testing.assert_allclose(np.concatenate([box_center - (box_size - 1) / 2, box_size]),
                               data["iou_target_box"], rtol=1e-6)


def test_frame1_features_match_pytracking(frame1):
    from atom_jax import iou_net

    data, image, box, weights = frame1
    center_xy, _, scale = pytracking_init_geometry(box)
    transforms = augment.transforms_from_pytracking(augment.PYTRACKING_ATOM_AUGMENTATION, (SAMPLE, SAMPLE))
    n = len(transforms)
    assert n == data["backbone_layer3_all_aug"].shape[0] == 23

    shifts = recovered_shifts_xy(data["init_label_y"], n)
    fixed = np.asarray([t.param if t.kind == "shift" else (0, 0) for t in transforms])
    has_random = np.asarray([t.random_shift for t in transforms])
    np.testing.assert_array_equal(shifts[~has_random], fixed[~has_random])   # the method recovers known shifts
    assert np.all(np.abs(shifts[has_random]) <= SAMPLE / 6)                  # within random_shift_factor 1/3
    # Dropout copies (samples 23..29) are the identity sample: their labels sit on the identity's centre.
    assert np.all(recovered_shifts_xy(data["init_label_y"], 30)[n:] == 0)

    samples = _samples(image, jnp.asarray(center_xy), jnp.float32(scale), jnp.asarray(np.where(
        has_random[:, None], shifts, 0), jnp.int32))
    np.testing.assert_array_equal(np.asarray(samples.shifts_xy), shifts)
    feats, c3, c4 = _features(weights, samples.images)

    errors = {f"layer3[{i}] {t.kind}": rel_err(nchw(feats["layer3"])[i], data["backbone_layer3_all_aug"][i])
              for i, t in enumerate(transforms)}
    errors.update({f"layer2[{i}]": rel_err(nchw(feats["layer2"])[i], data["backbone_layer2_aug0to2"][i])
                   for i in range(3)})
    errors["iou_feat_c3"] = rel_err(nchw(c3), data["iou_feat_c3_aug0"])
    errors["iou_feat_c4"] = rel_err(nchw(c4), data["iou_feat_c4_aug0"])
    target_box = jnp.asarray(data["iou_target_box"], jnp.float32)[None]
    m3, m4 = jax.jit(iou_net.get_modulation)(weights["iou_net"], {k: v[:1] for k, v in feats.items()}, target_box)
    errors["modulation_fc34_3r"] = rel_err(np.asarray(m3).reshape(-1), data["modulation_fc34_3r"].reshape(-1))
    errors["modulation_fc34_4r"] = rel_err(np.asarray(m4).reshape(-1), data["modulation_fc34_4r"].reshape(-1))
    print("\nrelative L2 errors vs pytracking:\n" + "\n".join(f"  {k:28s} {v:.2e}" for k, v in errors.items()))
    bad = {k: v for k, v in errors.items() if not v <= BOUND}
    assert not bad, f"relative errors above {BOUND}: {bad}"
