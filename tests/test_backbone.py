"""ResNet-18: float64 NumPy reference of the first layers, shapes, initialisation, BatchNorm semantics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from atom_jax.backbone import CHANNELS, STRIDES, ResNet18, backbone_features, init_backbone
from atom_jax.batchnorm import BatchNorm
from atom_jax.weights import unflatten_tree


def conv_ref(x, kernel, stride, pad):
    """Plain float64 NHWC x HWIO convolution with zero padding."""
    x = np.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    kh, kw = kernel.shape[:2]
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, kernel.shape[3]))
    for i in range(kh):
        for j in range(kw):
            patch = x[:, i:i + stride * (oh - 1) + 1:stride, j:j + stride * (ow - 1) + 1:stride, :]
            out += patch @ kernel[i, j]
    return out


def bn_ref(x, p, s):
    return (x - s["mean"]) / np.sqrt(s["var"] + 1e-5) * p["scale"] + p["bias"]


def maxpool_ref(x):
    x = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    oh, ow = (x.shape[1] - 3) // 2 + 1, (x.shape[2] - 3) // 2 + 1
    return np.max([x[:, i:i + 2 * oh - 1:2, j:j + 2 * ow - 1:2] for i in range(3) for j in range(3)], axis=0)


def block_ref(x, p, s, stride):
    y = np.maximum(bn_ref(conv_ref(x, p["conv1"]["kernel"], stride, 1), p["bn1"], s["bn1"]), 0)
    y = bn_ref(conv_ref(y, p["conv2"]["kernel"], 1, 1), p["bn2"], s["bn2"])
    if "downsample_0" in p:
        x = bn_ref(conv_ref(x, p["downsample_0"]["kernel"], stride, 0), p["downsample_1"], s["downsample_1"])
    return np.maximum(y + x, 0)


def random_variables(layers, seed=0):
    """Random float64 ResNet variables (random BatchNorm statistics too) in the module's structure."""
    shapes = jax.eval_shape(ResNet18(layers).init, jax.random.PRNGKey(0), jnp.zeros((1, 32, 32, 3)))
    rng = np.random.default_rng(seed)

    def fill(path, leaf):
        name = jax.tree_util.keystr(path)
        if "var" in name:
            return rng.uniform(0.5, 1.5, leaf.shape)
        if "kernel" in name:
            return rng.normal(size=leaf.shape) * np.sqrt(2.0 / np.prod(leaf.shape[:3]))
        return rng.normal(size=leaf.shape) * 0.3 + ("scale" in name)

    return jax.tree_util.tree_map_with_path(fill, shapes)


def test_float64_reference_through_layer2():
    layers = ("conv1", "layer1", "layer2")
    v = random_variables(layers)
    x = np.random.default_rng(1).normal(size=(2, 21, 26, 3))
    p, s = v["params"], v["batch_stats"]
    ref = {"conv1": np.maximum(bn_ref(conv_ref(x, p["conv1"]["kernel"], 2, 3), p["bn1"], s["bn1"]), 0)}
    y = maxpool_ref(ref["conv1"])
    for layer, stride in (("layer1", 1), ("layer2", 2)):
        y = block_ref(block_ref(y, p[f"{layer}_0"], s[f"{layer}_0"], stride), p[f"{layer}_1"], s[f"{layer}_1"], 1)
        ref[layer] = y
    with jax.enable_x64(True):
        folded = jax.jit(backbone_features, static_argnums=2)(v, x, layers)
        module = jax.jit(ResNet18(layers).apply)(v, x)
        for name in layers:
            assert folded[name].dtype == jnp.float64
            np.testing.assert_allclose(folded[name], ref[name], rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(module[name], ref[name], rtol=1e-10, atol=1e-10)


def test_strides_channels_and_early_stop():
    shapes = jax.eval_shape(lambda v, x: backbone_features(v, x, ("layer3", "layer2", "layer4")),
                            random_variables(("layer4",)), jnp.zeros((2, 288, 288, 3)))
    assert set(shapes) == {"layer3", "layer2", "layer4"}
    for name, shape in shapes.items():
        assert shape.shape == (2, 288 // STRIDES[name], 288 // STRIDES[name], CHANNELS[name])
    # variables for layers up to layer3 only are enough when layer4 is not requested
    assert "layer4_0" not in random_variables(("layer3",))["params"]
    jax.eval_shape(lambda v, x: backbone_features(v, x, ("layer3",)), random_variables(("layer3",)),
                   jnp.zeros((1, 64, 64, 3)))
    with pytest.raises(ValueError, match="unknown backbone layers"):
        backbone_features(random_variables(("layer2",)), jnp.zeros((1, 32, 32, 3)), ("layer5",))


def test_init_is_torchvision():
    v = init_backbone(jax.random.PRNGKey(0), ("conv1",))
    kernel = np.asarray(v["params"]["conv1"]["kernel"])
    assert kernel.shape == (7, 7, 3, 64)
    # kaiming normal, fan_out = 64 * 7 * 7
    assert abs(kernel.std() / np.sqrt(2.0 / (64 * 49)) - 1) < 0.05 and abs(kernel.mean()) < 0.01
    np.testing.assert_array_equal(v["params"]["bn1"]["scale"], 1)
    np.testing.assert_array_equal(v["params"]["bn1"]["bias"], 0)
    np.testing.assert_array_equal(v["batch_stats"]["bn1"]["var"], 1)


def test_batchnorm_train_mode_is_pytorchs():
    x = np.random.default_rng(0).normal(size=(3, 4, 5, 6)) * 2 + 1
    bn = BatchNorm()
    with jax.enable_x64(True):
        v = unflatten_tree({"params/scale": np.full(6, 1.5), "params/bias": np.full(6, 0.2),
                            "batch_stats/mean": np.full(6, 0.3), "batch_stats/var": np.full(6, 2.0)})
        y, upd = bn.apply(v, x, True, mutable=["batch_stats"])
        y_eval = bn.apply(v, x, False)
    n = 3 * 4 * 5
    mean, var = x.mean((0, 1, 2)), x.var((0, 1, 2))
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(var + 1e-5) * 1.5 + 0.2, rtol=1e-12)
    np.testing.assert_allclose(upd["batch_stats"]["mean"], 0.9 * 0.3 + 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(upd["batch_stats"]["var"], 0.9 * 2.0 + 0.1 * var * n / (n - 1), rtol=1e-12)
    np.testing.assert_allclose(y_eval, (x - 0.3) / np.sqrt(2.0 + 1e-5) * 1.5 + 0.2, rtol=1e-12)
