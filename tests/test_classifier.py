"""Tests of atom_jax.classifier: float64 NumPy references for the convolution, residuals, labels, inits."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import classifier as C
from atom_jax import solvers


def _np_conv_same(x, w):
    """Direct correlation with pytracking's 'same' padding (k//2 before, (k-1)//2 after), NHWC / HWIO."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    xp = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
    out = np.zeros((n, h, wd, o))
    for a in range(kh):
        for b in range(kw):
            out += np.einsum("nhwc,co->nhwo", xp[:, a : a + h, b : b + wd], w[a, b])
    return out


def _np_mlu(x, a=0.05):
    y = np.where(x >= 0, x, x / a)
    return np.where(y > 0, y, a * (np.exp(y) - 1))


@pytest.mark.parametrize("kernel", [(4, 4), (3, 3), (4, 3)])
def test_conv_same_matches_direct_correlation_and_explicit_lax_padding(kernel):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 7, 6, 5))
    w = rng.standard_normal(kernel + (5, 2))
    with jax.enable_x64(True):
        got = np.asarray(C.conv_same(jnp.asarray(x), jnp.asarray(w)))
        lax_out = jax.lax.conv_general_dilated(
            jnp.asarray(x), jnp.asarray(w), (1, 1), (C.same_padding(kernel[0]), C.same_padding(kernel[1])),
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
    np.testing.assert_allclose(got, _np_conv_same(x, w), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, lax_out, rtol=1e-12, atol=1e-12)
    assert C.same_padding(4) == (2, 1) and C.same_padding(3) == (1, 1)


def test_mlu_activation_and_factorized_scores_float64():
    rng = np.random.default_rng(1)
    v = np.linspace(-0.5, 0.5, 101)
    with jax.enable_x64(True):
        np.testing.assert_allclose(C.activation(jnp.asarray(v), ("mlu", 0.05)), _np_mlu(v), rtol=1e-12, atol=1e-15)
        x = rng.standard_normal((3, 6, 6, 16))
        wts = {"filter": jnp.asarray(rng.standard_normal((4, 4, 8, 1))),
               "projection": jnp.asarray(rng.standard_normal((1, 1, 16, 8)))}
        ref = _np_conv_same(x @ np.asarray(wts["projection"][0, 0]), np.asarray(wts["filter"]))[..., 0]
        np.testing.assert_allclose(C.scores_from_features(jnp.asarray(x), wts), ref, rtol=1e-10, atol=1e-12)
        two_stage = C.scores(C.project(jnp.asarray(x), wts["projection"]), wts["filter"])
        np.testing.assert_allclose(two_stage, ref, rtol=1e-10, atol=1e-12)
        # a non-identity projection activation goes through the two-stage path
        relu = C.scores_from_features(jnp.asarray(x), wts, ("relu",))
        ref_relu = _np_conv_same(np.maximum(x @ np.asarray(wts["projection"][0, 0]), 0), np.asarray(wts["filter"]))
        np.testing.assert_allclose(relu, ref_relu[..., 0], rtol=1e-10, atol=1e-12)


def test_joint_and_filter_residuals_match_numpy():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 5, 5, 6))
    y = rng.uniform(0, 1, (3, 5, 5))
    sw = np.array([0.5, 0.3, 0.2])
    f = rng.standard_normal((4, 4, 4, 1)) * 0.1
    p = rng.standard_normal((1, 1, 6, 4))
    z = x @ p[0, 0]
    data = np.sqrt(sw)[:, None, None] * (_np_mlu(_np_conv_same(z, f)[..., 0]) - y)
    with jax.enable_x64(True):
        r = C.joint_residuals({"filter": jnp.asarray(f), "projection": jnp.asarray(p)}, jnp.asarray(x), jnp.asarray(y), jnp.asarray(sw))
        np.testing.assert_allclose(r["data"], data, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(r["filter"], np.sqrt(0.1) * f, rtol=1e-12)
        np.testing.assert_allclose(r["projection"], np.sqrt(1e-4) * p, rtol=1e-12)
        rf = C.filter_residuals(jnp.asarray(f), jnp.asarray(z), jnp.asarray(y), jnp.asarray(sw))
        np.testing.assert_allclose(rf["data"], data, rtol=1e-10, atol=1e-12)
        expected = np.sum(data**2) + 0.1 * np.sum(f**2) + 1e-4 * np.sum(p**2)
        np.testing.assert_allclose(C.objective(r), expected, rtol=1e-12)
        # a scalar sample weight broadcasts over the samples (pytracking's first-frame 1/N)
        r1 = C.joint_residuals({"filter": jnp.asarray(f), "projection": jnp.asarray(p)}, jnp.asarray(x), jnp.asarray(y), jnp.asarray(1 / 3))
        np.testing.assert_allclose(r1["data"][0], data[0] / np.sqrt(0.5) * np.sqrt(1 / 3), rtol=1e-10)


def test_gaussian_label_and_center():
    h, w = 6, 8
    sigma, center = 1.3, (0.7, -1.2)
    ky = np.arange(h) - (h - 1) / 2
    kx = np.arange(w) - (w - 1) / 2
    ref = np.exp(-((ky[:, None] - center[1]) ** 2 + (kx[None, :] - center[0]) ** 2) / (2 * sigma**2))
    np.testing.assert_allclose(C.gaussian_label((h, w), sigma, center), ref, rtol=1e-6)
    # target exactly at the sample center: only the half-cell offset of the even 4x4 kernel remains
    np.testing.assert_allclose(C.label_center_xy((0.0, 0.0), 1.0, (288, 288), (18, 18)), [0.5, 0.5])
    # 16 image pixels at scale 2 on a 288-pixel support with 18 cells = 0.5 cell
    np.testing.assert_allclose(C.label_center_xy((16.0, -32.0), 2.0, (288, 288), (18, 18), (3, 3)), [0.5, -1.0])
    np.testing.assert_allclose(C.label_sigma((18, 18), (288, 288), (64.0, 16.0)), np.sqrt(4.0 * 1.0) / 4, rtol=1e-6)


def test_inits_and_feature_normalisation():
    key = jax.random.PRNGKey(0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5, 5, 12)) * np.linspace(0.1, 3.0, 12)
    p = C.init_projection(key, jnp.asarray(x, jnp.float32), 4, "randn")
    assert p.shape == (1, 1, 12, 4)
    big = C.init_projection(key, jnp.zeros((1, 1, 1, 256)), 64, "randn")
    assert abs(float(jnp.std(big)) - 1 / 16) < 0.003
    f = C.init_filter(key, (4, 4), 64, "randn")
    assert f.shape == (4, 4, 64, 1) and abs(float(jnp.std(f)) - 1 / 1024) < 1e-4
    assert float(jnp.abs(C.init_filter(key, (4, 4), 8, "zeros")).max()) == 0
    with jax.enable_x64(True):
        pca = np.asarray(C.init_projection(key, jnp.asarray(x), 4, "pca"))[0, 0]
    xm = x.reshape(-1, 12) - x.reshape(-1, 12).mean(0)
    evals, evecs = np.linalg.eigh(xm.T @ xm)
    top = evecs[:, ::-1][:, :4]
    np.testing.assert_allclose(np.abs(np.sum(pca * top, axis=0)), 1.0, rtol=1e-8)  # same directions up to sign
    xn = C.normalize_features(jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(jnp.sum(xn**2, axis=(1, 2, 3)), 5 * 5 * 12, rtol=1e-5)
    with pytest.raises(ValueError):
        C.init_projection(key, jnp.zeros((1, 1, 1, 8)), 4, "svd")


def test_weights_from_pytracking_layout():
    rng = np.random.default_rng(4)
    f_oihw = rng.standard_normal((1, 8, 4, 4))
    p_oihw = rng.standard_normal((8, 16, 1, 1))
    w = C.weights_from_pytracking(f_oihw, p_oihw)
    assert w["filter"].shape == (4, 4, 8, 1) and w["projection"].shape == (1, 1, 16, 8)
    np.testing.assert_allclose(w["filter"][1, 2, 3, 0], f_oihw[0, 3, 1, 2])
    np.testing.assert_allclose(w["projection"][0, 0, 5, 7], p_oihw[7, 5, 0, 0])


def test_fit_joint_and_fit_filter_decrease_the_objective_under_jit():
    rng = np.random.default_rng(5)
    n, hw, cin, cc = 5, 8, 16, 6
    x = jnp.asarray(rng.standard_normal((n, hw, hw, cin)), jnp.float32)
    y = C.gaussian_label((hw, hw), 1.0, (0.5, 0.5))[None].repeat(n, 0)
    sw = jnp.full((n,), 1.0 / n)
    key = jax.random.PRNGKey(1)
    w0 = {"filter": C.init_filter(key, (4, 4), cc), "projection": C.init_projection(key, x, cc)}
    w, stats = jax.jit(lambda w: C.fit_joint(w, x, y, sw, num_gn=3, num_cg=5))(w0)
    assert stats.loss.shape == (4,) and float(stats.loss[-1]) < 0.5 * float(stats.loss[0])
    z = C.project(x, w["projection"])
    fit = jax.jit(lambda f, s: C.fit_filter(f, z, y, sw, s, num_cg=3, forget_factor=0.5, final_stats=True))
    f1, s1, st1 = fit(w["filter"], solvers.cg_init_state(w["filter"]))
    f2, s2, st2 = fit(f1, s1)
    assert float(st2.loss[-1]) <= float(st1.loss[-1]) <= float(st1.loss[0]) * (1 + 1e-6)
    assert bool(s2.has_direction) and float(st2.beta[0, 0]) >= 0


def test_fit_filter_under_vmap_equals_single_runs():
    rng = np.random.default_rng(6)
    z = jnp.asarray(rng.standard_normal((2, 3, 6, 6, 4)), jnp.float32)  # 2 trackers, 3 samples each
    y = C.gaussian_label((6, 6), 1.0, (0.5, 0.5))[None].repeat(3, 0)
    sw = jnp.full((3,), 1 / 3)
    f0 = jnp.asarray(rng.standard_normal((2, 4, 4, 4, 1)) * 0.05, jnp.float32)
    fit = lambda f, zz: C.fit_filter(f, zz, y, sw, solvers.cg_init_state(f), num_cg=3, forget_factor=0.5)[0]
    batched = jax.jit(jax.vmap(fit))(f0, z)
    for b in range(2):
        np.testing.assert_allclose(batched[b], jax.jit(fit)(f0[b], z[b]), rtol=1e-5, atol=1e-7)
