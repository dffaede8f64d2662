"""The classifier and its first-frame optimisation against pytracking's own recorded tensors
(``crossing_frame1.npz`` in the shared reference: NCHW, exactly what pytracking's optimizer saw).

Why objectives and not weights: the CG iterates of this first-frame problem are chaotic (perturbing the
samples by 1e-15 in float64 changes the last CG alphas of a GN iteration by 5x), and in float32 the final
objective after 6 GN x 10 CG depends on rounding: 0.274 +- 0.007 (mean, std over 12 draws of 1e-6 input
perturbations; pytracking's own float32 run reached 0.2836). In float64 the final objective is stable,
0.2586 +- 0.0001 under 1e-7 perturbations. So the test checks that the objective function itself
(residual definition, labels, weights, padding) equals pytracking's exactly, that our float64 solve reaches
pytracking's objective (``ours <= theirs * (1 + 1e-3)``), and that our float32 solve lands inside the float32
spread around it.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import classifier as C

pytestmark = pytest.mark.reference


@pytest.fixture(scope="module")
def frame1(reference_dir):
    with np.load(reference_dir / "crossing_frame1.npz") as d:
        return {k: d[k] for k in ("init_samples_layer3", "init_label_y", "filter_init", "projection_matrix_init",
                                  "filter", "projection_matrix")}


def _np_scores_nchw(x, f, p):
    """float64 direct evaluation in pytracking's layout: 1x1 projection, then conv with padding 2 and the
    last row/column dropped (pytracking's 'same' for the even 4x4 kernel)."""
    z = np.einsum("nchw,oc->nohw", x.astype(np.float64), p[:, :, 0, 0].astype(np.float64))
    zp = np.pad(z, ((0, 0), (0, 0), (2, 2), (2, 2)))
    h, w = x.shape[2:]
    full = np.zeros((x.shape[0], h + 1, w + 1))
    for a in range(4):
        for b in range(4):
            full += np.einsum("nchw,c->nhw", zp[:, :, a : a + h + 1, b : b + w + 1], f[0, :, a, b].astype(np.float64))
    return full[:, :h, :w]


def _mlu(x, a=0.05):
    y = np.where(x >= 0, x, x / a)
    return np.where(y > 0, y, a * np.expm1(y))


def test_scores_and_objective_of_pytrackings_result(frame1):
    x, y = frame1["init_samples_layer3"], frame1["init_label_y"][:, 0]
    f, p = frame1["filter"], frame1["projection_matrix"]
    ref_scores = _np_scores_nchw(x, f, p)
    weights = C.weights_from_pytracking(f, p)
    xs = jnp.asarray(x.transpose(0, 2, 3, 1))
    got = np.asarray(C.scores_from_features(xs, weights))
    np.testing.assert_allclose(got, ref_scores, rtol=1e-4, atol=1e-5 * np.abs(ref_scores).max())
    two_stage = np.asarray(C.scores(C.project(xs, weights["projection"]), weights["filter"]))
    np.testing.assert_allclose(two_stage, ref_scores, rtol=1e-4, atol=1e-5 * np.abs(ref_scores).max())
    # the objective pytracking minimised (weights 1/30, MLU 0.05, regularisation 0.1 / 1e-4), in float64
    ref_obj = (np.sum((_mlu(ref_scores) - y) ** 2) / 30
               + 0.1 * np.sum(f.astype(np.float64) ** 2) + 1e-4 * np.sum(p.astype(np.float64) ** 2))
    with jax.enable_x64(True):
        w64 = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), weights)
        obj64 = C.objective(C.joint_residuals(w64, jnp.asarray(xs, jnp.float64), jnp.asarray(y, jnp.float64),
                                              jnp.asarray(1 / 30)))
    np.testing.assert_allclose(float(obj64), ref_obj, rtol=1e-10)


def test_labels_reproduce_pytrackings_init_labels(frame1):
    """Crossing's first box (205, 151, 17, 50): labels of the identity sample, the four relative shifts and
    the seven dropout copies (the other augmentations carry random shifts pytracking did not record)."""
    box_x, box_y, box_w, box_h = 205.0, 151.0, 17.0, 50.0
    center_xy = np.array([box_x + (box_w - 1) / 2, box_y + (box_h - 1) / 2])
    sample_center_xy = np.round(center_xy)  # 213, 176 (175.5 rounds half to even)
    scale = math.sqrt(box_w * box_h * 25 / 288**2)  # search area 5x5 target area -> 288x288 samples
    base_wh = np.array([box_w, box_h]) / scale
    sigma = C.label_sigma((18, 18), (288, 288), base_wh, 0.25)
    center = np.asarray(C.label_center_xy(center_xy - sample_center_xy, scale, (288, 288), (18, 18), (4, 4)))
    shifts_yx = [(86, 86), (-86, 86), (86, -86), (-86, -86)]  # pytracking: int(+-0.6 * 288 / 2), (y, x)
    expected = {0: center}
    for i, (sy, sx) in enumerate(shifts_yx, start=1):
        expected[i] = center + np.array([sx, sy]) / 288 * 18
    for i in range(23, 30):
        expected[i] = center
    labels = frame1["init_label_y"][:, 0]
    for i, c in expected.items():
        np.testing.assert_allclose(C.gaussian_label((18, 18), sigma, c), labels[i], atol=1e-6, err_msg=f"label {i}")


def test_first_frame_optimisation_reaches_pytrackings_objective(frame1):
    xs = jnp.asarray(frame1["init_samples_layer3"].transpose(0, 2, 3, 1))
    y = jnp.asarray(frame1["init_label_y"][:, 0])
    sw = jnp.full((30,), 1 / 30, jnp.float32)
    w0 = C.weights_from_pytracking(frame1["filter_init"], frame1["projection_matrix_init"])
    w_pt = C.weights_from_pytracking(frame1["filter"], frame1["projection_matrix"])
    theirs = float(C.objective(C.joint_residuals(w_pt, xs, y, sw)))
    w, stats = jax.jit(lambda w: C.fit_joint(w, xs, y, sw, num_gn=6, num_cg=10))(w0)
    ours32 = float(C.objective(C.joint_residuals(w, xs, y, sw)))
    np.testing.assert_allclose(float(stats.loss[-1]), ours32, rtol=1e-5)
    assert float(stats.loss[0]) > 10 * theirs  # the start point is far from the optimum
    assert abs(ours32 / theirs - 1) < 0.1, (ours32, theirs)  # inside the float32 spread (module docstring)
    with jax.enable_x64(True):
        to64 = lambda t: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), t)
        x64, y64, sw64 = to64(xs), to64(y), to64(sw)
        _, stats64 = jax.jit(lambda w: C.fit_joint(w, x64, y64, sw64, num_gn=6, num_cg=10))(to64(w0))
        ours64 = float(stats64.loss[-1])
    assert ours64 <= theirs * (1 + 1e-3), (ours64, theirs)
