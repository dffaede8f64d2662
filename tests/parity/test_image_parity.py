"""sample_patch and the init augmentations vs an eager PyTorch/OpenCV restatement of pytracking's code.

``tests/parity/torch_image.py`` does what pytracking does (``F.pad`` replicate, ``F.interpolate`` bilinear,
``conv2d`` blur, ``cv2.warpAffine`` rotation) in its (y, x) conventions. Random uint8 images, centres inside,
near and beyond the borders, sizes from 0.2x to 8x the output (pre-downsampling factors 1..8). The JAX code
reproduces PyTorch's single-rounding source coordinates and OpenCV 5's float32 warp coordinates exactly; on
this x86 CPU under jit the patches and rotations come out bit-identical and the blurs differ by a few float32
ulps (summation order of the taps). The bound ``ATOL`` allows a few ulps of 255 for XLA's FMA contraction
choices of the final blends, which differ between CPUs and between eager and jit.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import augment as A
from atom_jax.image import sample_patch

pytestmark = pytest.mark.parity
RNG = np.random.default_rng(1)
ATOL = 2e-4             # a few float32 ulps of 255


@pytest.fixture(scope="module")
def ti(torch):
    from tests.parity import torch_image

    return torch_image


_jit_sample = jax.jit(sample_patch, static_argnums=3)


@pytest.mark.parametrize("out_hw", [(288, 288), (57, 91)])
def test_sample_patch_matches_pytracking(ti, torch, out_hw):
    image = RNG.integers(0, 256, (150, 210, 3)).astype(np.uint8)
    im = ti.image_to_tensor(image)
    h, w = image.shape[:2]
    worst, dfs = 0.0, set()
    for _ in range(30):
        center = np.asarray([RNG.uniform(-0.4 * w, 1.4 * w), RNG.uniform(-0.4 * h, 1.4 * h)], np.float32)
        size = (np.asarray(out_hw[::-1]) * np.exp(RNG.uniform(np.log(0.2), np.log(8.0)))
                * np.exp(RNG.uniform(-0.25, 0.25, 2))).astype(np.float32)
        patch, geom = _jit_sample(image, center, size, out_hw)
        want, coords = ti.sample_patch(im, torch.from_numpy(center[::-1].copy()),
                                       torch.from_numpy(size[::-1].copy()), torch.Tensor(list(out_hw)))
        want = ti.tensor_to_hwc(want)[0]
        np.testing.assert_allclose(np.asarray(patch), want, rtol=0, atol=ATOL, err_msg=f"{center} {size}")
        np.testing.assert_array_equal(np.asarray(geom.coords_xyxy), coords.numpy()[[1, 0, 3, 2]])
        worst = max(worst, float(np.abs(np.asarray(patch) - want).max()))
        dfs.add(int(geom.df))
    assert max(dfs) >= 4, dfs
    print(f"\nsample_patch {out_hw}: max |JAX - PyTorch| = {worst:.2e} over df {sorted(dfs)}")


@jax.jit
def _augment(image, center_xy, scale, shifts_xy):
    ts = A.transforms_from_pytracking(A.PYTRACKING_ATOM_AUGMENTATION, (96, 96))
    return A.init_augmentations(image, center_xy, scale, ts, shifts_xy, (96, 96), 2)


@pytest.mark.parametrize("case", range(3))
def test_init_augmentations_match_pytracking(ti, case):
    """All 23 atom/default samples (96 px instead of 288 to keep the test fast; the code is size-generic)."""
    image = RNG.integers(0, 256, (120, 160, 3)).astype(np.uint8)
    center, scale = [(80.3, 60.7), (3.2, 115.9), (170.0, -8.0)][case], [1.0, 2.7, 0.6][case]
    ts = A.transforms_from_pytracking(A.PYTRACKING_ATOM_AUGMENTATION, (96, 96))
    shifts = A.draw_random_shifts(jax.random.PRNGKey(case), ts, (96, 96))
    if case == 2:                                   # shifts that leave the 192 px expanded patch
        shifts = shifts.at[5:].set(jnp.asarray([60, -75]))
    out = _augment(image, jnp.asarray(center, jnp.float32), jnp.float32(scale), shifts)
    random_yx = [tuple(int(v) for v in s[::-1]) for s, t in zip(np.asarray(shifts), ts) if t.random_shift]
    want, want_shifts = ti.init_samples(image, center[::-1], scale, (96, 96), A.PYTRACKING_ATOM_AUGMENTATION,
                                        random_yx)
    np.testing.assert_array_equal(np.asarray(out.shifts_xy)[:, ::-1], np.asarray(want_shifts))
    err = np.abs(np.asarray(out.images) - want).max(axis=(1, 2, 3))
    print(f"\ncase {case}: max |JAX - PyTorch/OpenCV| per sample: {np.array2string(err, precision=1)}")
    assert np.all(err <= ATOL), {t.kind + str(t.param): float(e) for t, e in zip(ts, err) if e > ATOL}
