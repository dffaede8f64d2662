"""Precise RoI Pooling against float64 NumPy integration, analytic cases and the original op's recorded numbers."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.errors import InputError
from atom_jax.prroi_pool import prroi_pool2d, prroi_pool2d_grouped

UPSTREAM = pathlib.Path(__file__).parent / "data" / "prroi_pool_upstream_2x2_scale0.5.npz"

# Jitted once per shape: eager autodiff would compile every small primitive on its own (slow tests).
pool_jit = jax.jit(prroi_pool2d, static_argnums=(3, 4))


def grad_jit(loss, argnums):
    return jax.jit(jax.grad(loss, argnums))


# ---------------------------------------------------------------- NumPy float64 reference (independent code)

def hat(t):
    return np.maximum(0.0, 1.0 - np.abs(t))


def _gauss_pieces(lo, hi):
    """2-point Gauss-Legendre nodes and weights on ``[lo, hi]`` split at the integers (exact for the hat)."""
    cuts = np.unique(np.concatenate([[lo, hi], np.arange(np.ceil(lo), np.floor(hi) + 1)]))
    cuts = cuts[(cuts >= lo) & (cuts <= hi)]
    nodes, weights = [], []
    for a, b in zip(cuts[:-1], cuts[1:]):
        mid, half = (a + b) / 2, (b - a) / 2
        for u in (-1 / np.sqrt(3), 1 / np.sqrt(3)):
            nodes.append(mid + half * u)
            weights.append(half)
    return np.array(nodes), np.array(weights)


def _midpoint_nodes(lo, hi, n):
    step = (hi - lo) / n
    return lo + step * (np.arange(n) + 0.5), np.full(n, step)


def reference_kernel(boxes_xyxy, pooled_hw, scale, height, width, rule="gauss", n=0):
    """``kernel[k, p, q, i, j]``: the bin mean of the interpolation basis ``h(y - i) h(x - j)``, by quadrature."""
    ph, pw = pooled_hw
    out = np.zeros((len(boxes_xyxy), ph, pw, height, width))
    for k, box in enumerate(np.asarray(boxes_xyxy, np.float64) * scale):
        bin_w = max(box[2] - box[0], 0.0) / pw
        bin_h = max(box[3] - box[1], 0.0) / ph
        if bin_w * bin_h == 0:
            continue
        for p in range(ph):
            for q in range(pw):
                ya, xa = box[1] + p * bin_h, box[0] + q * bin_w
                if rule == "gauss":
                    ys, wys = _gauss_pieces(ya, ya + bin_h)
                    xs, wxs = _gauss_pieces(xa, xa + bin_w)
                else:
                    ys, wys = _midpoint_nodes(ya, ya + bin_h, n)
                    xs, wxs = _midpoint_nodes(xa, xa + bin_w, n)
                ky = wys @ hat(ys[:, None] - np.arange(height))
                kx = wxs @ hat(xs[:, None] - np.arange(width))
                out[k, p, q] = np.outer(ky, kx) / (bin_w * bin_h)
    return out


def reference_pool(features, batch_idx, boxes_xyxy, pooled_hw, scale, **rule):
    features = np.asarray(features, np.float64)
    kernel = reference_kernel(boxes_xyxy, pooled_hw, scale, *features.shape[1:3], **rule)
    return np.einsum("kpqij,kijc->kpqc", kernel, features[np.asarray(batch_idx)])


# ---------------------------------------------------------------- cases

def _random_case(seed, n_images=2, height=7, width=9, channels=3, n_boxes=6, scale=0.5):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_images, height, width, channels))
    corner = rng.uniform(-6.0, 2 * width - 4.0, (n_boxes, 2))
    size = rng.uniform(0.3, 2 * width, (n_boxes, 2))
    boxes = np.concatenate([corner, corner + size], axis=1)
    boxes[0] = [-5.0, -3.0, 30.0, 22.0]        # larger than the map on every side
    boxes[1] = [2.0, 4.0, 10.0, 8.0]           # bin edges on sample positions
    batch_idx = rng.integers(0, n_images, n_boxes)
    return features, batch_idx, boxes


def _pool64(features, batch_idx, boxes, pooled_hw, scale):
    with jax.enable_x64(True):
        return np.asarray(pool_jit(jnp.asarray(features, jnp.float64), jnp.asarray(batch_idx),
                                   jnp.asarray(boxes, jnp.float64), pooled_hw, scale))


@pytest.mark.parametrize("pooled_hw", [(1, 1), (3, 3), (2, 5)])
@pytest.mark.parametrize("seed", [0, 1])
def test_matches_piecewise_gauss_quadrature(seed, pooled_hw):
    features, batch_idx, boxes = _random_case(seed)
    got = _pool64(features, batch_idx, boxes, pooled_hw, 0.5)
    want = reference_pool(features, batch_idx, boxes, pooled_hw, 0.5)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_matches_dense_midpoint_integration():
    features, batch_idx, boxes = _random_case(3, n_boxes=4)
    got = _pool64(features, batch_idx, boxes, (3, 2), 0.5)
    want = reference_pool(features, batch_idx, boxes, (3, 2), 0.5, rule="midpoint", n=400)
    # The midpoint rule on 400 x 400 points per bin is off by O(1/400^2) at the kinks of the surface.
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)


def test_constant_map_gives_the_constant_inside_and_decays_outside():
    features = np.full((1, 6, 8, 2), 3.0)
    boxes = np.array([[0.0, 0.0, 7.0, 5.0],      # the whole hull of the samples
                      [1.3, 2.2, 4.7, 4.1],
                      [-1.0, 1.0, 2.0, 2.0],     # bins x in [-1, 0], [0, 1], [1, 2]: 1/2, 1, 1
                      [-1.0, -1.0, 2.0, 0.0],    # the same bins with y in [-1, 0]: halved
                      [7.0, 1.0, 10.0, 2.0],     # bins x in [7, 8], [8, 9], [9, 10]: 1/2, 0, 0
                      [-9.0, -9.0, -2.0, -1.0]])  # entirely outside the support: 0
    got = _pool64(features, np.zeros(6, int), boxes, (1, 3), 1.0)
    want = 3.0 * np.array([[1, 1, 1], [1, 1, 1], [0.5, 1, 1], [0.25, 0.5, 0.5], [0.5, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(got, np.broadcast_to(want[:, None, :, None], got.shape), rtol=1e-13, atol=1e-13)


def test_linear_map_gives_the_value_at_the_bin_center():
    height, width, pooled_hw, scale = 9, 11, (3, 4), 0.25
    ii, jj = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    features = np.stack([1.5 + 0.7 * ii - 0.3 * jj, -2.0 * ii + jj], -1)[None]
    boxes = np.array([[1.0, 3.0, 37.0, 29.0], [10.2, 5.5, 21.9, 17.3]])   # within the samples' hull
    got = _pool64(features, [0, 0], boxes, pooled_hw, scale)
    box = boxes * scale
    cy = box[:, 1, None] + (np.arange(3) + 0.5) * (box[:, 3] - box[:, 1])[:, None] / 3
    cx = box[:, 0, None] + (np.arange(4) + 0.5) * (box[:, 2] - box[:, 0])[:, None] / 4
    y, x = cy[:, :, None], cx[:, None, :]
    want = np.stack([1.5 + 0.7 * y - 0.3 * x, -2.0 * y + x], -1)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_empty_boxes_give_zero_output_and_zero_finite_gradients():
    features = np.random.default_rng(0).standard_normal((1, 5, 5, 2))
    boxes = np.array([[2.0, 2.0, 2.0, 4.0], [1.0, 3.0, 4.0, 3.0], [4.0, 4.0, 1.0, 1.0], [3.0, 3.0, 3.0, 3.0]])
    with jax.enable_x64(True):
        def total(f, b):
            return prroi_pool2d(f, jnp.zeros(4, int), b, (2, 2), 1.0).sum()
        out = pool_jit(jnp.asarray(features), jnp.zeros(4, int), jnp.asarray(boxes), (2, 2), 1.0)
        g_features, g_boxes = grad_jit(total, (0, 1))(jnp.asarray(features), jnp.asarray(boxes))
    assert np.all(np.asarray(out) == 0)
    assert np.all(np.asarray(g_features) == 0) and np.all(np.asarray(g_boxes) == 0)


def test_matches_the_original_ops_recorded_outputs_and_gradients():
    """Numbers recorded from the upstream CUDA op (see tests/data/README.md); its box edges sit on samples."""
    data = np.load(UPSTREAM)
    features = jnp.asarray(data["features_nchw"].transpose(0, 2, 3, 1))
    rois = data["rois"]

    def total(f, b):
        return prroi_pool2d(f, rois[:, 0].astype(int), b, (2, 2), 0.5).sum()

    out = pool_jit(features, rois[:, 0].astype(int), rois[:, 1:], (2, 2), 0.5)
    g_features, g_boxes = grad_jit(total, (0, 1))(features, jnp.asarray(rois[:, 1:]))
    # float32 on both sides; the CUDA op sums its pieces in another order.
    np.testing.assert_allclose(np.asarray(out).transpose(0, 3, 1, 2), data["outputs_nchw"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(g_features).transpose(0, 3, 1, 2), data["grad_features_nchw"],
                               rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(g_boxes), data["grad_rois"][:, 1:], rtol=1e-5, atol=1e-6)


def test_unit_bins_on_integer_grid_are_two_by_two_averages():
    """The original's own forward check: unit bins starting on samples average 2x2 neighbourhoods."""
    features = np.random.default_rng(1).standard_normal((2, 16, 18, 3))
    boxes = np.array([[0.0, 0.0, 14.0, 14.0], [14.0, 14.0, 28.0, 28.0]])
    got = _pool64(features, [0, 1], boxes, (7, 7), 0.5)
    avg = (features[:, :-1, :-1] + features[:, 1:, :-1] + features[:, :-1, 1:] + features[:, 1:, 1:]) / 4
    np.testing.assert_allclose(got, np.stack([avg[0, :7, :7], avg[1, 7:14, 7:14]]), rtol=1e-13, atol=1e-13)


def test_box_gradients_match_central_differences_of_the_reference():
    features, batch_idx, boxes = _random_case(5, n_boxes=5)
    pooled_hw, scale = (3, 2), 0.5
    cotangent = np.random.default_rng(6).standard_normal((5, *pooled_hw, features.shape[-1]))

    def reference_loss(b):
        return np.sum(reference_pool(features, batch_idx, b, pooled_hw, scale) * cotangent)

    eps = 1e-6
    fd = np.zeros_like(boxes)
    for index in np.ndindex(*boxes.shape):
        step = np.zeros_like(boxes)
        step[index] = eps
        fd[index] = (reference_loss(boxes + step) - reference_loss(boxes - step)) / (2 * eps)
    with jax.enable_x64(True):
        def loss(b):
            out = prroi_pool2d(jnp.asarray(features), jnp.asarray(batch_idx), b, pooled_hw, scale)
            return jnp.sum(out * cotangent)
        got = np.asarray(grad_jit(loss, 0)(jnp.asarray(boxes)))
    # Central differences straddle the kinks of the derivative where bin edges meet samples: O(eps) error.
    np.testing.assert_allclose(got, fd, rtol=1e-6, atol=1e-6)


def test_feature_gradients_are_the_transposed_reference_kernel():
    features, batch_idx, boxes = _random_case(7, n_boxes=5)
    pooled_hw, scale = (2, 3), 0.5
    cotangent = np.random.default_rng(8).standard_normal((5, *pooled_hw, features.shape[-1]))
    kernel = reference_kernel(boxes, pooled_hw, scale, *features.shape[1:3])
    want = np.zeros_like(features)
    np.add.at(want, batch_idx, np.einsum("kpqij,kpqc->kijc", kernel, cotangent))
    with jax.enable_x64(True):
        def loss(f):
            return jnp.sum(prroi_pool2d(f, jnp.asarray(batch_idx), jnp.asarray(boxes), pooled_hw, scale) * cotangent)
        got = np.asarray(grad_jit(loss, 0)(jnp.asarray(features)))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_many_images_gathered_in_chunks_and_grouped_layout():
    rng = np.random.default_rng(9)
    features = rng.standard_normal((6, 7, 9, 3))
    corner = rng.uniform(-2, 10, (6, 7, 2))    # 42 boxes: more than one gather chunk, with a remainder
    boxes = np.concatenate([corner, corner + rng.uniform(0.5, 8, (6, 7, 2))], -1)
    batch_idx = np.repeat(np.arange(6), 7)
    want = reference_pool(features, batch_idx, boxes.reshape(-1, 4), (2, 2), 0.75)
    cotangent = rng.standard_normal(want.shape)
    with jax.enable_x64(True):
        def loss_gathered(f, b):
            out = prroi_pool2d(f, batch_idx, b.reshape(-1, 4), (2, 2), 0.75)
            return jnp.sum(out * cotangent), out

        def loss_grouped(f, b):
            out = prroi_pool2d_grouped(f, b, (2, 2), 0.75).reshape(cotangent.shape)
            return jnp.sum(out * cotangent), out

        args = (jnp.asarray(features), jnp.asarray(boxes))
        (_, gathered), grads_gathered = jax.jit(jax.value_and_grad(loss_gathered, (0, 1), has_aux=True))(*args)
        (_, grouped), grads_grouped = jax.jit(jax.value_and_grad(loss_grouped, (0, 1), has_aux=True))(*args)
    np.testing.assert_allclose(np.asarray(gathered), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(np.asarray(grouped), want, rtol=1e-12, atol=1e-12)
    for got, other in zip(grads_gathered, grads_grouped):
        np.testing.assert_allclose(np.asarray(got), np.asarray(other), rtol=1e-12, atol=1e-12)


def test_float32_jit_and_dtype():
    features, batch_idx, boxes = _random_case(10)
    out = pool_jit(jnp.asarray(features, jnp.float32), batch_idx, jnp.asarray(boxes, jnp.float32), (3, 3), 0.5)
    assert out.dtype == jnp.float32 and out.shape == (6, 3, 3, 3)
    want = reference_pool(features.astype(np.float32), batch_idx, boxes.astype(np.float32), (3, 3), 0.5)
    np.testing.assert_allclose(np.asarray(out), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("features_shape, boxes_shape, batch_shape, pooled_hw", [
    ((5, 5, 2), (3, 4), (3,), (2, 2)),
    ((1, 5, 5, 2), (3, 5), (3,), (2, 2)),
    ((1, 5, 5, 2), (3, 4), (2,), (2, 2)),
    ((1, 5, 5, 2), (3, 4), (3,), (0, 2)),
])
def test_bad_shapes_raise_input_error(features_shape, boxes_shape, batch_shape, pooled_hw):
    with pytest.raises(InputError):
        prroi_pool2d(jnp.zeros(features_shape), jnp.zeros(batch_shape, int), jnp.zeros(boxes_shape), pooled_hw, 1.0)
