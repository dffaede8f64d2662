"""Parity of the ResNet-18 backbone and the IoU-Net with PyTorch (torchvision / pytracking layouts).

Seeded random PyTorch weights (every BatchNorm statistic random too) go through the converter, so these tests
also check the name mapping and layout permutations of ``atom_jax.convert``. Compared at batch 1 and 4:
backbone layers, IoU features, modulation vectors, predicted IoUs and their gradients w.r.t. the proposals,
and (training mode) predicted IoUs, updated running statistics and parameter gradients.
Error measure: relative L2 error ``|a - b| / |b|`` per tensor, float32 on both sides, bound 1e-5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.backbone import ResNet18, backbone_features
from atom_jax.convert import convert_state_dict
from atom_jax.iou_net import get_iou_feat, get_modulation, iou_net_forward, predict_iou
from atom_jax.weights import flatten_tree

pytestmark = pytest.mark.parity
RTOL = 1e-5


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def nchw(x):
    return np.asarray(x).transpose(0, 3, 1, 2)


@pytest.fixture(scope="module")
def nets(torch):
    from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_, state_dict_numpy

    torch.manual_seed(0)
    backbone = randomize_(TorchResNet18(), seed=1).eval()
    iou = randomize_(TorchAtomIoUNet(), seed=2).eval()
    state = {**state_dict_numpy(backbone, "feature_extractor."), **state_dict_numpy(iou, "bb_regressor.")}
    weights, info = convert_state_dict(state, "test")
    assert info["dropped_keys"] == ["feature_extractor.fc.weight", "feature_extractor.fc.bias"]
    return backbone, iou, weights


def _inputs(batch: int, seed: int, image_size: int = 192):
    """ReLU-like features of a ``image_size`` square image, a target box and 8 proposals per image."""
    rng = np.random.default_rng(seed)
    s8, s16 = image_size // 8, image_size // 16
    feat = {"layer2": np.maximum(rng.normal(size=(batch, s8, s8, 128)), 0).astype(np.float32),
            "layer3": np.maximum(rng.normal(size=(batch, s16, s16, 256)), 0).astype(np.float32)}
    box_ref = np.concatenate([rng.uniform(20, 80, (batch, 2)), rng.uniform(30, 100, (batch, 2))], 1)
    # proposals around the box, some partly outside the image
    jitter = rng.normal(size=(batch, 8, 4)) * np.array([20, 20, 15, 15])
    proposals = box_ref[:, None, :] + jitter
    proposals[..., 2:] = np.abs(proposals[..., 2:]) + 4
    proposals[:, 0, :2] = -10.0
    return feat, box_ref.astype(np.float32), proposals.astype(np.float32)


@pytest.mark.parametrize("batch", [1, 4])
def test_backbone_layers(torch, nets, batch):
    backbone, _, weights = nets
    # 288 x 272: layer2 is 36 x 34, large enough for the Winograd path of atom_jax.winograd
    x = np.random.default_rng(batch).normal(size=(batch, 288, 272, 3)).astype(np.float32)
    layers = ("conv1", "layer1", "layer2", "layer3", "layer4")
    with torch.no_grad():
        ref = backbone(torch.from_numpy(nchw(x)), layers)
    folded = jax.jit(backbone_features, static_argnums=2)(weights["backbone"], x, layers)
    module = jax.jit(ResNet18(layers).apply)(weights["backbone"], x)
    for name in layers:
        assert folded[name].shape == (batch, *ref[name].shape[2:], ref[name].shape[1])
        assert rel_err(nchw(folded[name]), ref[name]) < RTOL, name
        assert rel_err(nchw(module[name]), ref[name]) < RTOL, name


def test_backbone_stops_after_deepest_layer(nets):
    _, _, weights = nets
    x = jnp.zeros((1, 64, 64, 3))
    jaxpr = str(jax.make_jaxpr(lambda v: backbone_features(v, x, ("layer2",)))(weights["backbone"]))
    full = str(jax.make_jaxpr(lambda v: backbone_features(v, x, ("layer4",)))(weights["backbone"]))
    assert jaxpr.count("conv_general_dilated") == 1 + 4 + 5  # conv1, layer1 (2x2 convs), layer2 (+downsample)
    assert full.count("conv_general_dilated") == 1 + 4 + 5 + 5 + 5


@pytest.mark.parametrize("batch", [1, 4])
def test_iou_net_inference(torch, nets, batch):
    _, iou, weights = nets
    v = weights["iou_net"]
    feat, box_ref, proposals = _inputs(batch, seed=10 + batch, image_size=288)  # the tracker's patch size
    t_feat = [torch.from_numpy(nchw(feat[k])) for k in ("layer2", "layer3")]
    t_prop = torch.from_numpy(proposals).requires_grad_(True)
    modulation_ref = iou.get_modulation(*t_feat, torch.from_numpy(box_ref))
    iou_feat_ref = iou.get_iou_feat(*t_feat)
    pred_ref = iou.predict_iou(modulation_ref, iou_feat_ref, t_prop)
    (grad_ref,) = torch.autograd.grad(pred_ref.sum(), t_prop)

    @jax.jit
    def run(v, feat, box_ref, proposals):
        modulation = get_modulation(v, feat, box_ref)
        iou_feat = get_iou_feat(v, feat)
        pred, vjp = jax.vjp(lambda p: predict_iou(v, modulation, iou_feat, p), proposals)
        return modulation, iou_feat, pred, vjp(jnp.ones_like(pred))[0]

    modulation, iou_feat, pred, grad = run(v, feat, box_ref, proposals)
    for ours, theirs in zip(modulation, modulation_ref):
        assert ours.shape == (batch, 256) and rel_err(ours, theirs.detach()) < RTOL
    for ours, theirs in zip(iou_feat, iou_feat_ref):
        assert rel_err(nchw(ours), theirs.detach()) < RTOL
    assert pred.shape == (batch, 8) and rel_err(pred, pred_ref.detach()) < RTOL
    assert rel_err(grad, grad_ref) < RTOL


def test_iou_net_training_forward_float64(torch, nets):
    """Train mode (batch statistics), the running-statistics update and parameter gradients, in float64 on both
    sides: BatchNorm over a few values per channel (the reference branch pools one vector per image) amplifies
    float32 rounding up to ~1e-4, so exactness is checked where rounding is negligible."""
    import copy

    _, iou_eval, weights = nets
    iou = copy.deepcopy(iou_eval).double().train()
    batch = 3
    feat_ref, box_ref, _ = _inputs(batch, seed=20, image_size=128)
    feat_test, _, proposals = _inputs(batch, seed=30, image_size=128)
    to_t = lambda f: [torch.from_numpy(nchw(f[k])).double() for k in ("layer2", "layer3")]
    pred_ref = iou(to_t(feat_ref), to_t(feat_test), torch.from_numpy(box_ref).double(),
                   torch.from_numpy(proposals).double())
    (pred_ref ** 2).sum().backward()

    # PyTorch's updated running statistics and its gradients, mapped through the converter's names
    state = {"bb_regressor." + k: v.detach().numpy() for k, v in iou.state_dict().items()}
    ref_stats = flatten_tree(convert_state_dict(state, "stats", parts=("iou_net",))[0]["iou_net"]["batch_stats"])
    state.update({"bb_regressor." + k: p.grad.numpy() for k, p in iou.named_parameters()})
    ref_grads = flatten_tree(convert_state_dict(state, "grads", parts=("iou_net",))[0]["iou_net"]["params"])

    with jax.enable_x64(True):
        to64 = lambda tree: jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), tree)
        variables = to64(weights["iou_net"])

        def loss(params):
            pred, stats = iou_net_forward({"params": params, "batch_stats": variables["batch_stats"]},
                                          to64(feat_ref), to64(feat_test), to64(box_ref), to64(proposals), True)
            return jnp.sum(pred ** 2), (pred, stats)

        (_, (pred, stats)), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(variables["params"])
        assert pred.dtype == jnp.float64
        # the converter stores float32: compare against float64 values cast the same way
        assert rel_err(pred, pred_ref.detach()) < 1e-10
        for path, value in flatten_tree(stats).items():
            assert rel_err(value, ref_stats[path]) < 1e-6, path  # reference cast to float32 by the converter
        grads = flatten_tree(grads)
        for path, value in grads.items():
            if path.endswith("conv/bias") or path.endswith("linear/bias"):
                # a bias right before a train-mode BatchNorm cancels out: its gradient is zero up to rounding
                assert np.linalg.norm(value) < 1e-9 * np.linalg.norm(grads[path[:-4] + "kernel"]), path
                assert np.linalg.norm(ref_grads[path]) < 1e-9 * np.linalg.norm(ref_grads[path[:-4] + "kernel"])
            else:
                assert rel_err(value, ref_grads[path]) < 1e-6, path
