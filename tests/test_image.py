"""atom_jax.image: normalisation and pytracking's sample_patch against plain NumPy (float64) references.

The reference below restates pytracking's steps with explicit slicing, clamped indexing and a separable
bilinear resize (``align_corners=False``), so it shares no code with the one-gather JAX version.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.errors import InputError
from atom_jax.image import IMAGENET_MEAN, IMAGENET_STD, normalize, sample_patch

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (61, 83, 3)).astype(np.uint8)


def resize_bilinear_np(crop, output_hw, scales):
    """float64 bilinear resize, half-pixel centres, source index clamped at 0 (PyTorch align_corners=False).

    ``scales``: input/output ratio per axis; passed in so the reference can use PyTorch's float32 ratio.
    """
    out = np.asarray(crop, np.float64)
    for axis, (n_out, scale) in enumerate(zip(output_hw, scales)):
        n_in = out.shape[axis]
        src = np.maximum((np.arange(n_out) + 0.5) * scale - 0.5, 0.0)
        i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        i1 = np.minimum(i0 + 1, n_in - 1)
        shape = [1] * out.ndim
        shape[axis] = n_out
        w1 = (src - i0).reshape(shape)
        out = np.take(out, i0, axis=axis) * (1 - w1) + np.take(out, i1, axis=axis) * w1
    return out


def sample_patch_np(image, center_xy, size_wh, output_hw):
    """pytracking's sample_patch ('replicate') step by step in NumPy; returns (patch, coords_xyxy, df)."""
    pos = np.trunc(np.asarray(center_xy, np.float64)).astype(np.int64)[::-1]      # (y, x), like .long()
    size = np.asarray(size_wh, np.float32)[::-1]
    out = np.asarray(output_hw)
    df = max(int(float(np.min(size / out.astype(np.float32))) - 0.1), 1)
    phase = pos % df
    sub = image[phase[0]::df, phase[1]::df]
    pos = (pos - phase) // df
    szl = np.maximum(np.round(size / np.float32(df)), 2).astype(np.int64)
    tl, br = pos - (szl - 1) / 2, pos + szl / 2 + 1
    first, stop = np.trunc(tl).astype(np.int64), np.trunc(br).astype(np.int64)
    rows = np.clip(np.arange(first[0], stop[0]), 0, sub.shape[0] - 1)
    cols = np.clip(np.arange(first[1], stop[1]), 0, sub.shape[1] - 1)
    crop = sub[rows][:, cols].astype(np.float64)
    scales = [float(np.float32(n) / np.float32(o)) for n, o in zip(crop.shape[:2], output_hw)]
    coords = df * np.concatenate([tl[::-1], br[::-1]])
    return resize_bilinear_np(crop, output_hw, scales), coords, df


def _cases(n, image_hw, out_hw):
    """Random centres inside, near and beyond the borders; sizes from 0.3x to 6x the output."""
    h, w = image_hw
    centers = np.stack([RNG.uniform(-0.3 * w, 1.3 * w, n), RNG.uniform(-0.3 * h, 1.3 * h, n)], 1)
    sizes = np.asarray(out_hw[::-1]) * np.exp(RNG.uniform(np.log(0.3), np.log(6.0), (n, 1)))
    sizes = sizes * np.exp(RNG.uniform(-0.2, 0.2, (n, 2)))                          # non-square too
    return centers.astype(np.float32), sizes.astype(np.float32)


_jit_sample = jax.jit(sample_patch, static_argnums=3)


def test_normalize_matches_numpy():
    x = RNG.uniform(0, 255, (2, 5, 7, 3))
    want = (x / 255 - np.asarray(IMAGENET_MEAN)) / np.asarray(IMAGENET_STD)
    got = normalize(x.astype(np.float32))
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(normalize(IMAGE)), (IMAGE / 255 - IMAGENET_MEAN) / IMAGENET_STD,
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("out_hw", [(31, 23), (40, 40)])
def test_sample_patch_matches_numpy_reference(out_hw):
    centers, sizes = _cases(40, IMAGE.shape[:2], out_hw)
    dfs = set()
    for c, s in zip(centers, sizes):
        want, want_coords, df = sample_patch_np(IMAGE, c, s, out_hw)
        dfs.add(df)
        patch, geom = _jit_sample(IMAGE, c, s, out_hw)
        assert patch.shape == (*out_hw, 3) and patch.dtype == jnp.float32
        # Source coordinates are float32 (as in PyTorch): up to ~1e-5 px of rounding times a 255 pixel step.
        np.testing.assert_allclose(np.asarray(patch), want, atol=5e-3, err_msg=f"center {c} size {s}")
        np.testing.assert_array_equal(np.asarray(geom.coords_xyxy), want_coords)
        assert int(geom.df) == df
    assert {1, 2, 3}.issubset(dfs), dfs                 # the pre-downsampling path is exercised


def test_frame_padded_into_a_canvas_samples_as_the_frame_alone():
    """With ``valid_wh`` a frame padded into a larger canvas (batch tracking) gives the frame's own patch, also
    with pre-downsampling (where the canvas's edge replication would pick other pixels than the frame's
    subsampled border) and for crops beyond the border. The canvas beyond the frame holds noise: never read."""
    out_hw = (31, 23)
    h, w = IMAGE.shape[:2]
    canvas = RNG.uniform(0, 255, (h + 37, w + 50, 3)).astype(np.float32)
    canvas[:h, :w] = IMAGE
    centers, sizes = _cases(30, (h, w), out_hw)
    valid = jnp.asarray([w, h], jnp.float32)
    dfs = set()
    for c, s in zip(centers, sizes):
        want, geom = _jit_sample(IMAGE, c, s, out_hw)
        got, _ = _jit_sample(canvas, c, s, out_hw, valid)
        dfs.add(int(geom.df))
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want), err_msg=f"center {c} size {s}")
    assert {1, 2, 3}.issubset(dfs), dfs


def test_exact_crop_and_replicate_padding():
    """Odd sizes with ``df = 1``: the crop has exactly the output size, so the patch is a pure (padded) copy."""
    image = RNG.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    out_hw = (9, 7)
    for cx, cy in [(0.4, 0.9), (29.7, 19.2), (-2.5, 5.0), (33.9, 22.3), (15.0, -3.0), (10.5, 10.5)]:
        patch, geom = _jit_sample(image, [cx, cy], [7.0, 9.0], out_hw)
        x0, y0 = int(np.trunc(cx)), int(np.trunc(cy))
        rows = np.clip(np.arange(y0 - 4, y0 + 5), 0, 19)
        cols = np.clip(np.arange(x0 - 3, x0 + 4), 0, 29)
        np.testing.assert_array_equal(np.asarray(patch), image[rows][:, cols].astype(np.float32))
        assert list(np.asarray(geom.crop_wh)) == [7, 9] and int(geom.df) == 1


def test_center_is_truncated_not_rounded():
    """pytracking's ``pos.long()``: 10.9 samples like 10.0, and -0.9 like 0.0 (towards zero)."""
    out_hw = (11, 11)
    a, _ = _jit_sample(IMAGE, [10.9, 20.9], [11.0, 11.0], out_hw)
    b, _ = _jit_sample(IMAGE, [10.0, 20.0], [11.0, 11.0], out_hw)
    c, _ = _jit_sample(IMAGE, [11.0, 21.0], [11.0, 11.0], out_hw)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))
    d, _ = _jit_sample(IMAGE, [-0.9, 3.0], [11.0, 11.0], out_hw)
    e, _ = _jit_sample(IMAGE, [0.0, 3.0], [11.0, 11.0], out_hw)
    np.testing.assert_array_equal(np.asarray(d), np.asarray(e))


def test_downsampling_phase():
    """With ``df = 3`` the image is subsampled from ``trunc(center) mod 3``: a centre one pixel over changes
    the phase, while one three pixels over shifts the subsampled grid by exactly one pixel."""
    image = np.zeros((90, 90, 3), np.uint8)
    image[:, :, 0] = np.arange(90)[None, :]           # red = x, green = y: the patch shows where it read
    image[:, :, 1] = np.arange(90)[:, None]
    out_hw = (10, 10)
    size = [35.0, 35.0]                                # resize factor 3.5 -> df = 3, crop 12 px -> resize
    for cx in (40.0, 41.0, 42.0, 43.0):
        want, _, df = sample_patch_np(image, [cx, 45.0], size, out_hw)
        assert df == 3
        patch, _ = _jit_sample(image, [cx, 45.0], size, out_hw)
        np.testing.assert_allclose(np.asarray(patch), want, atol=1e-3)
    p40, _ = _jit_sample(image, [40.0, 45.0], size, out_hw)
    p43, _ = _jit_sample(image, [43.0, 45.0], size, out_hw)
    np.testing.assert_allclose(np.asarray(p43)[..., 0] - np.asarray(p40)[..., 0], 3.0, atol=1e-4)


def test_jit_with_traced_center_equals_eager_and_compiles_once():
    traces = []

    def fn(image, center_xy, size_wh):
        traces.append(1)
        return sample_patch(image, center_xy, size_wh, (32, 32))

    jitted = jax.jit(fn)
    centers, sizes = _cases(12, IMAGE.shape[:2], (32, 32))
    for i, (c, s) in enumerate(zip(centers, sizes)):
        got, geom = jitted(IMAGE, c, s)
        if i % 4:
            continue                                   # eager dispatch is slow: compare a third of them
        want, want_geom = sample_patch(IMAGE, c, s, (32, 32))
        # eager and jit differ only in XLA's fused multiply-adds of the final blend (a few ulp of 255)
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=0, atol=2e-4)
        np.testing.assert_array_equal(np.asarray(geom.coords_xyxy), np.asarray(want_geom.coords_xyxy))
    assert len(traces) == 1


def test_uint8_and_float_images_agree():
    c, s = [40.3, 30.1], [50.0, 44.0]
    a, _ = _jit_sample(IMAGE, c, s, (16, 16))
    b, _ = _jit_sample(IMAGE.astype(np.float32), c, s, (16, 16))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_bad_image_shape_raises_input_error():
    with pytest.raises(InputError, match="shape"):
        sample_patch(np.zeros((10, 10), np.uint8), [5.0, 5.0], [4.0, 4.0], (4, 4))
    with pytest.raises(InputError, match="2047"):
        sample_patch(IMAGE, [5.0, 5.0], [4.0, 4.0], (4, 3000))
