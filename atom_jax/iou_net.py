"""The ATOM IoU predictor (paper Fig. 3; pytracking's ``AtomIoUNet``) as a Linen module and pure functions.

Inputs are backbone features as a dict holding a stride-8 and a stride-16 map, named by ``layers`` (default
ResNet-18's ``("layer2", "layer3")``: (B, H/8, W/8, 128) and (B, H/16, W/16, 256); the built-in weights use
EfficientNet-Lite0's ``("block5_expand", "block10")``), NHWC, and boxes ``(x, y, w, h)`` in the pixel coordinates
of the image the features come from. The input channels (pytracking's ``input_dim``) and the widths
``pred_input_dim`` / ``pred_inter_dim`` are read off the variables (:func:`dims`), so one set of functions
serves every backbone.

The network is split as in pytracking:
  * ``get_modulation(variables, feat_ref, box_ref_xywh) -> (m3, m4)``: reference branch, one 256-vector per
    level and target, computed once per sequence;
  * ``get_iou_feat(variables, feat_test) -> (c3, c4)``: test branch, once per frame (B, H/8, W/8, 256) and
    (B, H/16, W/16, 256);
  * ``predict_iou(variables, (m3, m4), (c3, c4), proposals_xywh (B, N, 4)) -> (B, N)``: cheap, differentiable
    in the proposals (the tracker ascends its gradient).
``variables`` is ``{"params": ..., "batch_stats": ...}`` (``weights["iou_net"]``); these three functions run
BatchNorm with running statistics. :func:`iou_net_forward` is the training forward pass, with batch statistics
when ``train=True``.

Linen names follow pytracking (``conv3_1r``, ..., ``iou_predictor``); inside a conv block the layers are
``conv`` and ``bn`` (PyTorch ``.0`` / ``.1``), inside a LinearBlock ``linear`` and ``bn``. A LinearBlock's
Dense kernel takes its pooled input flattened in NHWC order (h, w, c); PyTorch's flattens (c, h, w).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import flax.linen as nn

from atom_jax.batchnorm import BatchNorm
from atom_jax.winograd import conv_general_dilated
from atom_jax.prroi_pool import prroi_pool2d

# pytracking: kaiming normal, fan_in, gain sqrt(2); biases zero; BatchNorm weights U(0, 1), biases zero.
_kernel_init = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
_bn_scale_init = nn.initializers.uniform(1.0)

# (pooled size, feature stride) of the Precise RoI Pooling layers.
POOL_REF3, POOL_REF4 = (3, 8), (1, 16)
POOL_TEST3, POOL_TEST4 = (5, 8), (3, 16)


class ConvBlock(nn.Module):
    """Conv (with bias) -> BatchNorm -> ReLU, pytracking's ``conv`` helper."""

    features: int
    kernel_size: int = 3
    padding: int = 1

    @nn.compact
    def __call__(self, x, train: bool = False):
        k, p = self.kernel_size, self.padding
        x = nn.Conv(self.features, (k, k), padding=((p, p), (p, p)), kernel_init=_kernel_init,
                    conv_general_dilated=conv_general_dilated, name="conv")(x)
        return nn.relu(BatchNorm(scale_init=_bn_scale_init, name="bn")(x, train))


class LinearBlock(nn.Module):
    """Flatten (NHWC order) -> Dense -> BatchNorm -> ReLU, pytracking's ``LinearBlock``."""

    features: int

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Dense(self.features, kernel_init=_kernel_init, name="linear")(x.reshape(x.shape[0], -1))
        return nn.relu(BatchNorm(scale_init=_bn_scale_init, name="bn")(x, train))


def _rois(boxes_xywh):
    """(B, N, 4) boxes -> batch indices (B*N,) and boxes_xyxy (B*N, 4)."""
    b, n = boxes_xywh.shape[:2]
    boxes_xyxy = jnp.concatenate([boxes_xywh[..., :2], boxes_xywh[..., :2] + boxes_xywh[..., 2:]], axis=-1)
    batch_idx = jnp.repeat(jnp.arange(b, dtype=jnp.int32), n)
    return batch_idx, boxes_xyxy.reshape(b * n, 4)


def _pool(features, rois, pool):
    size, stride = pool
    return prroi_pool2d(features, rois[0], rois[1], (size, size), 1.0 / stride)


class AtomIoUNet(nn.Module):
    """pytracking's AtomIoUNet. The input channels (pytracking's ``input_dim``, (128, 256) for ResNet-18's
    layer2/layer3) follow the features it is initialised with; ``layers`` names the stride-8 and stride-16
    maps of the feature dicts that ``__call__`` reads."""

    pred_input_dim: tuple[int, int] = (256, 256)
    pred_inter_dim: tuple[int, int] = (256, 256)
    layers: tuple[str, str] = ("layer2", "layer3")
    test_dim: tuple[int, int] = (256, 256)  # widths of conv3_1t / conv4_1t (pytracking: 256, fixed)

    def setup(self):
        d3, d4 = self.pred_input_dim
        self.conv3_1r = ConvBlock(128)
        self.conv3_1t = ConvBlock(self.test_dim[0])
        self.conv3_2t = ConvBlock(d3)
        self.fc3_1r = ConvBlock(256, kernel_size=3, padding=0)
        self.conv4_1r = ConvBlock(256)
        self.conv4_1t = ConvBlock(self.test_dim[1])
        self.conv4_2t = ConvBlock(d4)
        self.fc34_3r = ConvBlock(d3, kernel_size=1, padding=0)
        self.fc34_4r = ConvBlock(d4, kernel_size=1, padding=0)
        self.fc3_rt = LinearBlock(self.pred_inter_dim[0])
        self.fc4_rt = LinearBlock(self.pred_inter_dim[1])
        self.iou_predictor = nn.Dense(1, kernel_init=_kernel_init)

    def get_modulation(self, feat3_r, feat4_r, box_ref_xywh, train: bool = False):
        rois = _rois(box_ref_xywh[:, None, :])
        roi3r = _pool(self.conv3_1r(feat3_r, train), rois, POOL_REF3)
        roi4r = _pool(self.conv4_1r(feat4_r, train), rois, POOL_REF4)
        fc34_r = jnp.concatenate([self.fc3_1r(roi3r, train), roi4r], axis=-1)
        b = box_ref_xywh.shape[0]
        return self.fc34_3r(fc34_r, train).reshape(b, -1), self.fc34_4r(fc34_r, train).reshape(b, -1)

    def get_iou_feat(self, feat3_t, feat4_t, train: bool = False):
        return (self.conv3_2t(self.conv3_1t(feat3_t, train), train),
                self.conv4_2t(self.conv4_1t(feat4_t, train), train))

    def predict_iou(self, modulation, iou_feat, proposals_xywh, train: bool = False):
        (m3, m4), (c3, c4) = modulation, iou_feat
        rois = _rois(proposals_xywh)
        roi3t = _pool(c3 * m3[:, None, None, :], rois, POOL_TEST3)
        roi4t = _pool(c4 * m4[:, None, None, :], rois, POOL_TEST4)
        fc34_rt = jnp.concatenate([self.fc3_rt(roi3t, train), self.fc4_rt(roi4t, train)], axis=-1)
        return self.iou_predictor(fc34_rt).reshape(proposals_xywh.shape[:2])

    def __call__(self, feat_ref, feat_test, box_ref_xywh, proposals_xywh, train: bool = False):
        l3, l4 = self.layers
        modulation = self.get_modulation(feat_ref[l3], feat_ref[l4], box_ref_xywh, train)
        reps = feat_test[l3].shape[0] // feat_ref[l3].shape[0]
        if reps > 1:  # T test images per reference, reference-major: each reference modulates its T images
            modulation = tuple(jnp.repeat(m, reps, axis=0) for m in modulation)
        iou_feat = self.get_iou_feat(feat_test[l3], feat_test[l4], train)
        return self.predict_iou(modulation, iou_feat, proposals_xywh, train)


DEFAULT_LAYERS = ("layer2", "layer3")


def init_iou_net(key, input_dim: tuple[int, int] = (128, 256), pred_input_dim: tuple[int, int] = (256, 256),
                 pred_inter_dim: tuple[int, int] = (256, 256), test_dim: tuple[int, int] = (256, 256)) -> dict:
    """Random IoU-Net variables ``{"params", "batch_stats"}`` with pytracking's initialisation, for input
    features of ``input_dim`` channels (stride 8, stride 16; pytracking's default is ResNet-18's (128, 256)).
    ``test_dim`` are the widths of the test branch's first convolutions (pytracking: 256 each; narrower is a
    lighter head: those two convolutions on the stride-8 map are most of the IoU-Net's cost)."""
    feat = {"layer2": jnp.zeros((1, 16, 16, input_dim[0]), jnp.float32),
            "layer3": jnp.zeros((1, 8, 8, input_dim[1]), jnp.float32)}
    box = jnp.array([[8.0, 8.0, 32.0, 32.0]], jnp.float32)
    model = AtomIoUNet(tuple(pred_input_dim), tuple(pred_inter_dim), test_dim=tuple(test_dim))
    variables = jax.jit(model.init)(key, feat, feat, box, box[:, None, :])
    return {"params": variables["params"], "batch_stats": variables["batch_stats"]}


def dims(variables) -> dict:
    """``{"input_dim", "pred_input_dim", "pred_inter_dim", "test_dim"}`` of IoU-Net variables, read off their
    shapes."""
    p = variables["params"]
    return {"test_dim": (int(p["conv3_1t"]["conv"]["kernel"].shape[3]), int(p["conv4_1t"]["conv"]["kernel"].shape[3])),
            "input_dim": (int(p["conv3_1r"]["conv"]["kernel"].shape[2]), int(p["conv4_1r"]["conv"]["kernel"].shape[2])),
            "pred_input_dim": (int(p["conv3_2t"]["conv"]["kernel"].shape[3]), int(p["conv4_2t"]["conv"]["kernel"].shape[3])),
            "pred_inter_dim": (int(p["fc3_rt"]["linear"]["kernel"].shape[1]), int(p["fc4_rt"]["linear"]["kernel"].shape[1]))}


def _model(variables, layers=DEFAULT_LAYERS) -> AtomIoUNet:
    d = dims(variables)
    return AtomIoUNet(d["pred_input_dim"], d["pred_inter_dim"], tuple(layers), d["test_dim"])


def get_modulation(variables, feat_ref: dict, box_ref_xywh, layers=DEFAULT_LAYERS):
    """Modulation vectors ``(m3 (B, C3), m4 (B, C4))`` of the targets ``box_ref_xywh`` (B, 4); ``layers`` names the
    stride-8 and stride-16 maps of ``feat_ref``."""
    l3, l4 = layers
    return _model(variables).apply(variables, feat_ref[l3], feat_ref[l4], box_ref_xywh,
                                   method=AtomIoUNet.get_modulation)


def get_iou_feat(variables, feat_test: dict, layers=DEFAULT_LAYERS):
    """Test-branch features ``(c3 (B, H/8, W/8, C3), c4 (B, H/16, W/16, C4))``."""
    l3, l4 = layers
    return _model(variables).apply(variables, feat_test[l3], feat_test[l4], method=AtomIoUNet.get_iou_feat)


def predict_iou(variables, modulation, iou_feat, proposals_xywh):
    """Predicted IoU (B, N) of the proposals ``(B, N, 4)`` (x, y, w, h) with the targets behind ``modulation``."""
    return _model(variables).apply(variables, modulation, iou_feat, proposals_xywh, method=AtomIoUNet.predict_iou)


def iou_net_forward(variables, feat_ref: dict, feat_test: dict, box_ref_xywh, proposals_xywh, train: bool = False,
                    layers=DEFAULT_LAYERS):
    """Training forward: reference (B) and test (B) features -> predicted IoU (B, N) of ``proposals_xywh``.
    Test features of ``B T`` images (reference-major) pair each reference with ``T`` test images.

    Returns ``(iou, batch_stats)``: with ``train=True`` BatchNorm uses batch statistics and ``batch_stats`` are
    the updated running statistics (PyTorch's momentum 0.1, unbiased variance); with ``train=False`` they are
    returned unchanged.
    """
    model = _model(variables, layers)
    if not train:
        return model.apply(variables, feat_ref, feat_test, box_ref_xywh, proposals_xywh), variables["batch_stats"]
    iou, updates = model.apply(variables, feat_ref, feat_test, box_ref_xywh, proposals_xywh, train=True,
                               mutable=["batch_stats"])
    return iou, updates["batch_stats"]
