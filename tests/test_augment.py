"""atom_jax.augment: ATOM's first-frame augmentations against plain NumPy (float64) references.

Each transform is restated on a small expanded patch with explicit NumPy: replicate-clamped shifted crops,
``fliplr``, a zero-padded separable Gaussian, and an inverse-mapped bilinear rotation with clamped neighbours.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import augment as A
from atom_jax.errors import InputError
from atom_jax.image import sample_patch

RNG = np.random.default_rng(0)
PATCH = RNG.uniform(0, 255, (40, 40, 3)).astype(np.float32)      # an "expanded patch" (2 x 20)
OUT = (20, 20)


def crop_np(patch, shift_xy, out_hw=OUT):
    """Centred crop moved by the shift, replicate outside: output pixel i reads i - floor((out - in) / 2) - s."""
    h, w = patch.shape[:2]
    rows = np.clip(np.arange(out_hw[0]) - math.floor((out_hw[0] - h) / 2) - shift_xy[1], 0, h - 1)
    cols = np.clip(np.arange(out_hw[1]) - math.floor((out_hw[1] - w) / 2) - shift_xy[0], 0, w - 1)
    return patch[rows][:, cols]


def blur_np(patch, sigma_xy):
    """float64 separable Gaussian, zero padding, height first (sigma_y) then width (sigma_x)."""
    out = np.asarray(patch, np.float64)
    for axis, sigma in ((0, sigma_xy[1]), (1, sigma_xy[0])):
        r = math.ceil(2 * sigma)
        k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma ** 2))
        k /= k.sum()
        padded = np.pad(out, [(r, r) if a == axis else (0, 0) for a in range(3)])
        n = out.shape[axis]
        out = sum(k[i] * np.take(padded, np.arange(i, i + n), axis=axis) for i in range(2 * r + 1))
    return out


def rotate_np(patch, degrees):
    """float64 rotation about ((h-1)/2, (w-1)/2), output pixel -> source by the inverse map, bilinear, clamp."""
    h, w = patch.shape[:2]
    a = math.radians(degrees)
    cx, cy = (h - 1) / 2, (w - 1) / 2            # pytracking builds the centre from (rows, cols)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    # forward: x' = cos*x + sin*y + tx (OpenCV's warpAffine matrix); inverse: rotate back about the centre.
    dx, dy = xs - cx, ys - cy
    sx = math.cos(a) * dx - math.sin(a) * dy + cx
    sy = math.sin(a) * dx + math.cos(a) * dy + cy
    x0, y0 = np.floor(sx).astype(int), np.floor(sy).astype(int)
    fx, fy = (sx - x0)[..., None], (sy - y0)[..., None]

    def px(yy, xx):
        return patch[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)].astype(np.float64)

    return ((1 - fy) * ((1 - fx) * px(y0, x0) + fx * px(y0, x0 + 1))
            + fy * ((1 - fx) * px(y0 + 1, x0) + fx * px(y0 + 1, x0 + 1)))


_apply = jax.jit(A.apply_transform, static_argnums=(1, 3))
SHIFTS = [(0, 0), (3, -2), (-7, 9), (10, 10), (-25, 4), (60, -60)]   # the last two leave the patch


@pytest.mark.parametrize("shift", SHIFTS)
def test_identity_shift_and_flip_are_replicate_crops(shift):
    got = _apply(PATCH, A.Transform("identity"), jnp.asarray(shift), OUT)
    np.testing.assert_array_equal(np.asarray(got), crop_np(PATCH, shift))
    got = _apply(PATCH, A.Transform("fliplr", (), True), jnp.asarray(shift), OUT)
    np.testing.assert_array_equal(np.asarray(got), crop_np(PATCH[:, ::-1], shift))


@pytest.mark.parametrize("sigma_xy", [(0.2, 2.0), (3.0, 1.0), (2.0, 2.0)])
@pytest.mark.parametrize("shift", [(0, 0), (-7, 9), (60, -60)])
def test_blur_matches_zero_padded_gaussian(sigma_xy, shift):
    got = _apply(PATCH, A.Transform("blur", sigma_xy, True), jnp.asarray(shift), OUT)
    want = crop_np(blur_np(PATCH, sigma_xy), shift)
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("degrees", [5, -30, 45, 60, 90])
@pytest.mark.parametrize("shift", [(0, 0), (3, -2), (-25, 4)])
def test_rotation_matches_inverse_mapped_bilinear(degrees, shift):
    got = _apply(PATCH, A.Transform("rotate", (float(degrees),), True), jnp.asarray(shift), OUT)
    want = crop_np(rotate_np(PATCH, degrees), shift)
    # OpenCV's source coordinates are float32 (a few 1e-6 px at this size) times pixel steps up to 255.
    np.testing.assert_allclose(np.asarray(got), want, rtol=0, atol=5e-3)


def test_rotation_by_90_degrees_moves_pixels_exactly():
    """Sign convention: +90 degrees (counter-clockwise on screen) sends the patch's top row to its left column."""
    got = _apply(PATCH, A.Transform("rotate", (90.0,), True), jnp.asarray((0, 0)), PATCH.shape[:2])
    np.testing.assert_allclose(np.asarray(got), np.rot90(PATCH, 1), atol=1e-3)


def test_pytracking_transform_list():
    ts = A.transforms_from_pytracking(A.PYTRACKING_ATOM_AUGMENTATION, (288, 288))
    assert [t.kind for t in ts] == ["identity"] + ["shift"] * 4 + ["fliplr"] + ["blur"] * 5 + ["rotate"] * 12
    # relativeshift (y, x) = (0.6, -0.6) -> trunc(0.6 * 144) = 86 -> (dx, dy) = (-86, 86)
    assert [t.param for t in ts[1:5]] == [(86, 86), (86, -86), (-86, 86), (-86, -86)]
    assert ts[6].param == (0.2, 2.0)                        # blur (sigma_y, sigma_x) = (2, 0.2) -> (x, y)
    assert [t.param[0] for t in ts[11:]] == [5, -5, 10, -10, 20, -20, 30, -30, 45, -45, -60, 60]
    assert [t.random_shift for t in ts] == [False] * 5 + [True] * 18
    with pytest.raises(InputError, match="scale"):
        A.transforms_from_pytracking({"scale": (1.1,)}, (288, 288))


def test_expanded_size_keeps_the_difference_even():
    assert A.expanded_size((288, 288)) == (576, 576)
    assert A.expanded_size((287, 288), 1.5) == (431, 432)     # int(430.5)=430 -> +1; 432 - 288 even
    assert A.expanded_size((288, 288), None) == (288, 288)


def test_random_shifts():
    ts = A.transforms_from_pytracking(A.PYTRACKING_ATOM_AUGMENTATION, (288, 288))
    s = np.asarray(A.draw_random_shifts(jax.random.PRNGKey(3), ts, (288, 288), 1 / 3))
    assert s.shape == (23, 2) and s.dtype == np.int32
    assert np.all(s[:5] == 0) and np.any(s[5:] != 0)
    assert np.all(np.abs(s) <= 48)                             # |u - 0.5| * 288 / 3 < 48, truncated
    np.testing.assert_array_equal(s, np.asarray(A.draw_random_shifts(jax.random.PRNGKey(3), ts, (288, 288))))


def test_init_augmentations_stack_and_compile_once():
    image = RNG.integers(0, 256, (50, 70, 3)).astype(np.uint8)
    ts = (A.Transform("identity"), A.Transform("shift", (3, -4)), A.Transform("fliplr", (), True),
          A.Transform("blur", (1.0, 0.5), True), A.Transform("rotate", (10.0,), True))
    traces = []

    def fn(image, center, scale, shifts):
        traces.append(1)
        return A.init_augmentations(image, center, scale, ts, shifts, (16, 16), 2)

    jitted = jax.jit(fn)
    for center, scale, seed in (((30.2, 20.7), 1.3, 0), ((3.0, 48.0), 2.6, 1), ((60.5, 5.5), 0.7, 2)):
        shifts = A.draw_random_shifts(jax.random.PRNGKey(seed), ts, (16, 16))
        out = jitted(image, jnp.asarray(center), jnp.float32(scale), shifts)
        assert out.images.shape == (5, 16, 16, 3)
        expanded, _ = sample_patch(image, center, np.float32(scale) * np.float32(32), (32, 32))
        total = np.asarray(shifts) + np.asarray([(0, 0), (3, -4), (0, 0), (0, 0), (0, 0)])
        np.testing.assert_array_equal(np.asarray(out.shifts_xy), total)
        for i, t in enumerate(ts):
            want = _apply(expanded, t, jnp.asarray(total[i]), (16, 16))
            np.testing.assert_allclose(np.asarray(out.images[i]), np.asarray(want), atol=1e-3)
    assert len(traces) == 1


def test_init_augmentations_rejects_bad_input():
    image = np.zeros((10, 10, 3), np.uint8)
    with pytest.raises(InputError, match="identity"):
        A.init_augmentations(image, (5.0, 5.0), 1.0, (A.Transform("fliplr"),), np.zeros((1, 2)), (4, 4))
    with pytest.raises(InputError, match="shape"):
        A.init_augmentations(image, (5.0, 5.0), 1.0, (A.Transform("identity"),), np.zeros((2, 2)), (4, 4))


def test_vmap_over_sequences_equals_single():
    """The tracker vmaps over sequences: under vmap the switch runs every branch, the result must not change."""
    image = RNG.integers(0, 256, (50, 70, 3)).astype(np.uint8)
    ts = (A.Transform("identity"), A.Transform("fliplr", (), True), A.Transform("blur", (1.0, 0.5), True),
          A.Transform("rotate", (10.0,), True))
    centers, scales = jnp.asarray([[30.2, 20.7], [3.0, 48.0]]), jnp.asarray([1.3, 2.6])
    shifts = jnp.stack([A.draw_random_shifts(jax.random.PRNGKey(i), ts, (16, 16)) for i in range(2)])
    batched = jax.jit(jax.vmap(lambda c, s, r: A.init_augmentations(image, c, s, ts, r, (16, 16)).images))
    out = batched(centers, scales, shifts)
    single = jax.jit(lambda c, s, r: A.init_augmentations(image, c, s, ts, r, (16, 16)).images)
    for i in range(2):
        np.testing.assert_allclose(np.asarray(out[i]), np.asarray(single(centers[i], scales[i], shifts[i])),
                                   atol=1e-4)
