"""JAX Precise RoI Pooling against the eager PyTorch one (tests/parity/torch_prroi_pool.py), float32.

Forward values and gradients with respect to the features and the box coordinates, on both IoU-Net levels
(288 x 288 image: 36 x 36 at 1/8 with 5 x 5 bins, 18 x 18 at 1/16 with 3 x 3 bins), batch sizes 1 and 4.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.prroi_pool import prroi_pool2d, prroi_pool2d_grouped

pytestmark = pytest.mark.parity

LEVELS = {"layer2": (36, 1 / 8, (5, 5)), "layer3": (18, 1 / 16, (3, 3))}
CHANNELS = 64
BOXES_PER_IMAGE = 6


def rel_err(got, want):
    """Relative L2 error of a whole array."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    return float(np.linalg.norm(got - want) / np.linalg.norm(want))


def _case(n_images, size, seed):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n_images, size, size, CHANNELS)).astype(np.float32)
    centre = rng.uniform(40, 248, (n_images * BOXES_PER_IMAGE, 2))
    wh = rng.uniform(16, 160, (n_images * BOXES_PER_IMAGE, 2))
    boxes = np.concatenate([centre - wh / 2, centre + wh / 2], 1)
    boxes[0] = [-30.0, 200.0, 96.0, 320.0]      # partly outside the map
    boxes[1] = [64.0, 32.0, 144.0, 112.0]       # integer feature coordinates at both scales
    boxes = boxes.astype(np.float32)
    batch_idx = np.repeat(np.arange(n_images), BOXES_PER_IMAGE)
    return features, batch_idx, boxes, rng


def _torch_side(torch, features, batch_idx, boxes, pooled_hw, scale, cotangent, channels_last=False):
    from tests.parity.torch_prroi_pool import prroi_pool2d_torch

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    feats = torch.tensor(features.transpose(0, 3, 1, 2).copy()).contiguous(memory_format=fmt).requires_grad_(True)
    rois = torch.tensor(np.concatenate([batch_idx[:, None].astype(np.float32), boxes], 1), requires_grad=True)
    out = prroi_pool2d_torch(feats, rois, pooled_hw[0], pooled_hw[1], scale)
    out.backward(torch.tensor(cotangent.transpose(0, 3, 1, 2).copy()))
    return (out.detach().numpy().transpose(0, 2, 3, 1), feats.grad.numpy().transpose(0, 2, 3, 1),
            rois.grad.numpy()[:, 1:])


@pytest.mark.parametrize("level", sorted(LEVELS))
@pytest.mark.parametrize("n_images", [1, 4])
def test_forward_and_gradients_match_torch(torch, level, n_images):
    size, scale, pooled_hw = LEVELS[level]
    features, batch_idx, boxes, rng = _case(n_images, size, seed=n_images * 10 + size)
    cotangent = rng.standard_normal((len(boxes), *pooled_hw, CHANNELS)).astype(np.float32)

    def loss(f, b):
        out = prroi_pool2d(f, batch_idx, b, pooled_hw, scale)
        return jnp.sum(out * cotangent), out

    (_, out), (grad_f, grad_b) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(features, boxes)
    for layout in ("nchw", "channels_last"):
        want_out, want_gf, want_gb = _torch_side(torch, features, batch_idx, boxes, pooled_hw, scale, cotangent,
                                                 channels_last=layout == "channels_last")
        errors = {"out": rel_err(out, want_out), "grad_features": rel_err(grad_f, want_gf),
                  "grad_boxes": rel_err(grad_b, want_gb)}
        print(f"prroi parity {level} B={n_images} torch {layout}: {errors}")
        assert max(errors.values()) <= 1e-5, (layout, errors)


def test_grouped_layout_matches_torch(torch):
    size, scale, pooled_hw = LEVELS["layer2"]
    features, batch_idx, boxes, rng = _case(4, size, seed=3)
    cotangent = rng.standard_normal((len(boxes), *pooled_hw, CHANNELS)).astype(np.float32)
    want_out, want_gf, want_gb = _torch_side(torch, features, batch_idx, boxes, pooled_hw, scale, cotangent)

    def loss(f, b):
        out = prroi_pool2d_grouped(f, b.reshape(4, BOXES_PER_IMAGE, 4), pooled_hw, scale).reshape(cotangent.shape)
        return jnp.sum(out * cotangent), out

    (_, out), (grad_f, grad_b) = jax.jit(jax.value_and_grad(loss, (0, 1), has_aux=True))(features, boxes)
    assert rel_err(out, want_out) <= 1e-5
    assert rel_err(grad_f, want_gf) <= 1e-5
    assert rel_err(grad_b, want_gb) <= 1e-5


def test_torch_reference_matches_the_original_ops_recorded_numbers(torch):
    """The PyTorch helper itself against numbers recorded from the upstream CUDA op (tests/data/README.md)."""
    import pathlib

    from tests.parity.torch_prroi_pool import prroi_pool2d_torch

    data = np.load(pathlib.Path(__file__).parents[1] / "data" / "prroi_pool_upstream_2x2_scale0.5.npz")
    feats = torch.tensor(data["features_nchw"], requires_grad=True)
    rois = torch.tensor(data["rois"], requires_grad=True)
    out = prroi_pool2d_torch(feats, rois, 2, 2, 0.5)
    out.sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), data["outputs_nchw"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(feats.grad.numpy(), data["grad_features_nchw"], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(rois.grad.numpy(), data["grad_rois"], rtol=1e-5, atol=1e-6)
