"""IoU-Net: initialisation, float64 references of the test branch and of the LinearBlock flatten order,
independence of boxes and images, box gradients vs finite differences, train/inference BatchNorm."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.iou_net import get_iou_feat, get_modulation, init_iou_net, iou_net_forward, predict_iou
from atom_jax.weights import flatten_tree, unflatten_tree
from tests.test_backbone import bn_ref, conv_ref


@pytest.fixture(scope="module")
def initial():
    return init_iou_net(jax.random.PRNGKey(0))


@pytest.fixture(scope="module")
def variables(initial):
    """pytracking-initialised float32 NumPy variables with random BatchNorm statistics (so inference BatchNorm
    is not the identity)."""
    rng = np.random.default_rng(0)
    stats = {k: (rng.uniform(0.5, 1.5, a.shape) if k.endswith("var") else rng.normal(size=a.shape) * 0.1)
             for k, a in flatten_tree(initial["batch_stats"]).items()}
    params = {k: np.asarray(a) for k, a in flatten_tree(initial["params"]).items()}
    return unflatten_tree({**{"params/" + k: a for k, a in params.items()},
                           **{"batch_stats/" + k: a.astype(np.float32) for k, a in stats.items()}})


def np64(tree):
    return jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), tree)


def _inputs(batch, seed, size=128):
    rng = np.random.default_rng(seed)
    feat = {"layer2": np.maximum(rng.normal(size=(batch, size // 8, size // 8, 128)), 0),
            "layer3": np.maximum(rng.normal(size=(batch, size // 16, size // 16, 256)), 0)}
    box = np.concatenate([rng.uniform(10, 50, (batch, 2)), rng.uniform(20, 60, (batch, 2))], 1)
    proposals = box[:, None, :] + rng.normal(size=(batch, 5, 4)) * 5
    return feat, box, proposals


def to64(tree):
    return jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)


def test_init_is_pytrackings(initial):
    p = initial["params"]
    assert p["fc3_rt"]["linear"]["kernel"].shape == (5 * 5 * 256, 256)
    assert p["fc4_rt"]["linear"]["kernel"].shape == (3 * 3 * 256, 256)
    kernel = np.asarray(p["conv3_1t"]["conv"]["kernel"])  # kaiming normal, fan_in = 3 * 3 * 128
    assert abs(kernel.std() / np.sqrt(2.0 / (9 * 128)) - 1) < 0.05
    linear = np.asarray(p["fc3_rt"]["linear"]["kernel"])
    assert abs(linear.std() / np.sqrt(2.0 / 6400) - 1) < 0.05
    scales = np.concatenate([np.asarray(a) for k, a in flatten_tree(p).items() if k.endswith("bn/scale")])
    assert scales.min() >= 0 and scales.max() < 1 and 0.4 < scales.mean() < 0.6  # U(0, 1)
    biases = [np.asarray(a) for k, a in flatten_tree(p).items() if k.endswith("bias")]
    assert all((b == 0).all() for b in biases)


def test_iou_feat_float64_reference(variables):
    feat, _, _ = _inputs(2, 1)
    p, s = np64(variables["params"]), np64(variables["batch_stats"])
    block = lambda x, n: np.maximum(bn_ref(conv_ref(x, p[n]["conv"]["kernel"], 1, 1) + p[n]["conv"]["bias"],
                                           p[n]["bn"], s[n]["bn"]), 0)
    ref3 = block(block(feat["layer2"], "conv3_1t"), "conv3_2t")
    ref4 = block(block(feat["layer3"], "conv4_1t"), "conv4_2t")
    with jax.enable_x64(True):
        c3, c4 = jax.jit(get_iou_feat)(to64(variables), to64(feat))
        assert c3.dtype == jnp.float64
    np.testing.assert_allclose(c3, ref3, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c4, ref4, rtol=1e-10, atol=1e-12)


def test_linear_block_flattens_nhwc(variables):
    """fc3_rt on a pooled (K, 5, 5, C) map equals the (h, w, c)-ordered dot product with its kernel."""
    from atom_jax.iou_net import LinearBlock

    x = np.random.default_rng(2).normal(size=(3, 5, 5, 256))
    v = np64({"params": variables["params"]["fc3_rt"], "batch_stats": variables["batch_stats"]["fc3_rt"]})
    with jax.enable_x64(True):
        out = LinearBlock(256).apply(to64(v), jnp.asarray(x))
    kernel = v["params"]["linear"]["kernel"].reshape(5, 5, 256, 256)
    dense = np.einsum("khwc,hwco->ko", x, kernel) + v["params"]["linear"]["bias"]
    np.testing.assert_allclose(out, np.maximum(bn_ref(dense, v["params"]["bn"], v["batch_stats"]["bn"]), 0),
                               rtol=1e-10, atol=1e-12)


def test_images_and_proposals_are_independent(variables):
    feat, box, proposals = _inputs(3, 3)
    run = jax.jit(lambda f, b, p: predict_iou(variables, get_modulation(variables, f, b),
                                             get_iou_feat(variables, f), p))
    together = run(feat, box, proposals)
    assert together.shape == (3, 5)
    one = run({k: v[1:2] for k, v in feat.items()}, box[1:2], proposals[1:2, 2:3])
    np.testing.assert_allclose(one[0, 0], together[1, 2], rtol=1e-5)


def test_box_gradient_matches_finite_differences(variables):
    feat, box, proposals = _inputs(1, 4)
    proposals = proposals[:, :3]
    eps = 1e-5
    # proposals do not interact, so every perturbed box goes into one batch of proposals
    steps = np.eye(12).reshape(12, 1, 3, 4) * eps
    perturbed = np.concatenate([proposals + steps, proposals - steps], axis=0)  # (24, 1, 3, 4)
    perturbed = perturbed.transpose(1, 0, 2, 3).reshape(1, -1, 4)
    with jax.enable_x64(True):
        @jax.jit
        def run(v, f, box, proposals, perturbed):
            modulation, iou_feat = get_modulation(v, f, box), get_iou_feat(v, f)
            score = lambda p: predict_iou(v, modulation, iou_feat, p)
            return jax.grad(lambda p: score(p).sum())(proposals), score(perturbed)

        grad, scores = run(np64(variables), np64(feat), box, proposals, perturbed)
    scores = np.asarray(scores).reshape(2, 12, 3)  # (+/-, perturbed coordinate, proposal)
    fd = ((scores[0] - scores[1]) / (2 * eps)).sum(axis=-1).reshape(1, 3, 4)  # d(sum of IoUs)/d(coordinate)
    assert np.abs(grad).max() > 1e-4  # the IoU depends on the box
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)


def test_forward_train_and_inference_modes(variables):
    feat_ref, box, _ = _inputs(4, 5)
    feat_test, _, proposals = _inputs(4, 6)
    forward = jax.jit(iou_net_forward, static_argnames="train")
    iou_eval, stats_eval = forward(variables, feat_ref, feat_test, box, proposals, train=False)
    expected = jax.jit(lambda v: predict_iou(v, get_modulation(v, feat_ref, box), get_iou_feat(v, feat_test),
                                             proposals))(variables)
    np.testing.assert_allclose(iou_eval, expected, rtol=1e-5, atol=1e-6)
    for path, value in flatten_tree(stats_eval).items():
        np.testing.assert_array_equal(value, flatten_tree(variables["batch_stats"])[path])
    iou_train, stats_train = forward(variables, feat_ref, feat_test, box, proposals, train=True)
    assert iou_train.shape == (4, 5) and not np.allclose(iou_train, iou_eval)
    # every running statistic moved towards a batch statistic
    old, new = flatten_tree(variables["batch_stats"]), flatten_tree(stats_train)
    assert set(old) == set(new) and all(not np.allclose(old[k], new[k]) for k in old)


@pytest.mark.reference
def test_pytracking_recorded_iou_features_and_modulation(reference_dir):
    """From pytracking's recorded backbone features of the identity sample: its recorded IoU-Net test-branch
    features and modulation vectors, with the shared checkpoint converted on the fly."""
    from atom_jax.weights import load_weights

    weights = load_weights(reference_dir / "atom_random_seed0.pth")
    with np.load(reference_dir / "crossing_frame1.npz", allow_pickle=False) as npz:
        rec = {k: npz[k] for k in npz.files}
    feat = {"layer2": rec["backbone_layer2_aug0to2"][:1].transpose(0, 2, 3, 1),
            "layer3": rec["backbone_layer3_all_aug"][:1].transpose(0, 2, 3, 1)}
    rel = lambda a, b: float(np.linalg.norm(np.asarray(a) - b) / np.linalg.norm(b))
    c3, c4 = jax.jit(get_iou_feat)(weights["iou_net"], feat)
    assert rel(c3, rec["iou_feat_c3_aug0"].transpose(0, 2, 3, 1)) < 1e-5
    assert rel(c4, rec["iou_feat_c4_aug0"].transpose(0, 2, 3, 1)) < 1e-5
    m3, m4 = jax.jit(get_modulation)(weights["iou_net"], feat, rec["iou_target_box"][None])
    assert rel(m3[0], rec["modulation_fc34_3r"].reshape(-1)) < 1e-5
    assert rel(m4[0], rec["modulation_fc34_4r"].reshape(-1)) < 1e-5


def test_widths_are_read_off_the_weights():
    """A lighter head (narrower test branch, prediction and intermediate widths) runs through the same
    functions: every width comes from the variables' shapes, and the weights check accepts it."""
    from atom_jax.iou_net import dims, init_iou_net
    from atom_jax.weights import expected_shapes

    v = init_iou_net(jax.random.PRNGKey(0), (24, 40), (32, 48), (16, 24), test_dim=(40, 56))
    assert dims(v) == {"input_dim": (24, 40), "pred_input_dim": (32, 48), "pred_inter_dim": (16, 24),
                       "test_dim": (40, 56)}
    shapes = expected_shapes("iou_net", v)
    assert shapes["params/conv3_1t/conv/kernel"] == (3, 3, 24, 40)
    assert shapes["params/conv3_2t/conv/kernel"] == (3, 3, 40, 32)
    feat = {"layer2": jnp.ones((2, 16, 16, 24)), "layer3": jnp.ones((2, 8, 8, 40))}
    box = jnp.array([[8.0, 8.0, 40.0, 40.0]] * 2)
    mod = jax.jit(get_modulation)(v, feat, box)  # jitted: one compilation, not one per operation
    assert mod[0].shape == (2, 32) and mod[1].shape == (2, 48)
    c3, c4 = jax.jit(get_iou_feat)(v, feat)
    assert c3.shape == (2, 16, 16, 32) and c4.shape == (2, 8, 8, 48)
    assert jax.jit(predict_iou)(v, mod, (c3, c4), box[:, None, :]).shape == (2, 1)
