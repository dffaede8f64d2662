"""Winograd F(2x2, 3x3) convolution: float64 agreement with direct convolution, gradients, dispatch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import winograd
from tests.test_backbone import conv_ref

DN = ("NHWC", "HWIO", "NHWC")


@pytest.mark.parametrize("shape, padding", [((2, 8, 8, 5, 6), ((1, 1), (1, 1))), ((1, 7, 9, 3, 4), ((1, 1), (1, 1))),
                                            ((1, 6, 7, 3, 2), ((0, 0), (0, 0))), ((1, 5, 6, 2, 3), ((2, 0), (1, 2)))])
def test_matches_direct_convolution_in_float64(shape, padding):
    b, h, w, c, o = shape
    rng = np.random.default_rng(0)
    x, k = rng.normal(size=(b, h, w, c)), rng.normal(size=(3, 3, c, o))
    (pt, pb), (pl, pr) = padding
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    with jax.enable_x64(True):
        y = winograd.winograd_conv3x3(jnp.asarray(x), jnp.asarray(k), padding)
    np.testing.assert_allclose(y, conv_ref(xp, k, 1, 0), rtol=1e-12, atol=1e-12)


def test_gradients_match_direct_convolution():
    rng = np.random.default_rng(1)
    x, k = rng.normal(size=(1, 6, 8, 4)), rng.normal(size=(3, 3, 4, 5))
    cot = rng.normal(size=(1, 6, 8, 5))
    with jax.enable_x64(True):
        direct = lambda x, k: jnp.sum(jax.lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)),
                                                                    dimension_numbers=DN) * cot)
        wino = lambda x, k: jnp.sum(winograd.winograd_conv3x3(x, k) * cot)
        for g_w, g_d in zip(jax.grad(wino, (0, 1))(x, k), jax.grad(direct, (0, 1))(x, k)):
            np.testing.assert_allclose(g_w, g_d, rtol=1e-11, atol=1e-11)


def test_dispatch_and_float32_accuracy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 36, 36, 128)).astype(np.float32)
    k = (rng.normal(size=(3, 3, 128, 16)) * 0.03).astype(np.float32)
    f = lambda x, k, s=(1, 1), p=((1, 1), (1, 1)): winograd.conv_general_dilated(x, k, s, p, dimension_numbers=DN)
    jaxpr = str(jax.make_jaxpr(f)(x, k))
    assert "dot_general" in jaxpr and "conv_general_dilated" not in jaxpr  # big 36x36 layer: Winograd
    # few pixels / few channels / a large batch: direct
    for small in [(x[:, :16, :16], k), (x[..., :64], k[:, :, :64]), (np.repeat(x, 3, axis=0), k)]:
        assert "conv_general_dilated" in str(jax.make_jaxpr(f)(*small))
    assert "conv_general_dilated" in str(jax.make_jaxpr(lambda x, k: f(x, k, (2, 2)))(x, k))  # strided: direct
    with jax.enable_x64(True):
        ref = np.asarray(jax.lax.conv_general_dilated(x.astype(np.float64), k.astype(np.float64), (1, 1),
                                                      ((1, 1), (1, 1)), dimension_numbers=DN))
    err = np.linalg.norm(np.asarray(jax.jit(f)(x, k), np.float64) - ref) / np.linalg.norm(ref)
    assert err < 2e-6  # float32 rounding of ~1e3-term sums, like direct convolution
