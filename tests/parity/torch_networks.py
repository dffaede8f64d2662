"""PyTorch versions of the two networks, with torchvision's and pytracking's state-dict names.

``TorchResNet18``: torchvision ``resnet18`` layout (``conv1``, ``bn1``, ``layer1.0.conv1``, ...,
``layer2.0.downsample.0/1``, ``fc``), returning the requested intermediate layers like ltr's backbone.
``TorchAtomIoUNet``: pytracking ``AtomIoUNet`` layout (``conv3_1r.0/1``, ``fc3_rt.linear/bn``, ...), with
``get_modulation`` / ``get_iou_feat`` / ``predict_iou`` taking NCHW features and (x, y, w, h) boxes, pooled
by the eager PyTorch Precise RoI Pooling of ``tests.parity.torch_prroi_pool``.

Helpers for parity tests and benchmarks (not tests themselves). ``randomize_`` gives every parameter and
BatchNorm statistic seeded random values, so that parity covers scale, bias, mean and variance.
"""

from __future__ import annotations

import torch
from torch import nn

from tests.parity.torch_prroi_pool import prroi_pool2d_torch

LAYER_ORDER = ("conv1", "layer1", "layer2", "layer3", "layer4")


class TorchBasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(y + shortcut)


class TorchResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, planes in enumerate((64, 128, 256, 512)):
            stride = 1 if i == 0 else 2
            setattr(self, f"layer{i + 1}", nn.Sequential(TorchBasicBlock(inplanes, planes, stride),
                                                         TorchBasicBlock(planes, planes, 1)))
            inplanes = planes
        self.fc = nn.Linear(512, 1000)

    def forward(self, x, layers=("layer2", "layer3")):
        deepest = max(LAYER_ORDER.index(name) for name in layers)
        out = {}
        x = self.relu(self.bn1(self.conv1(x)))
        out["conv1"] = x
        if deepest > 0:
            x = self.maxpool(x)
            for i in range(1, deepest + 1):
                x = getattr(self, LAYER_ORDER[i])(x)
                out[LAYER_ORDER[i]] = x
        return {name: out[name] for name in layers}


def _conv(cin, cout, k=3, pad=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, 1, pad, bias=True), nn.BatchNorm2d(cout), nn.ReLU())


class TorchLinearBlock(nn.Module):
    def __init__(self, cin, cout, side):
        super().__init__()
        self.linear = nn.Linear(cin * side * side, cout)
        self.bn = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.linear(x.reshape(x.shape[0], -1))
        return self.relu(self.bn(x[:, :, None, None])).flatten(1)


def _rois(boxes_xywh):
    """(B, N, 4) xywh -> (B*N, 5) [batch, x1, y1, x2, y2]."""
    b, n = boxes_xywh.shape[:2]
    idx = torch.arange(b, dtype=boxes_xywh.dtype)[:, None, None].expand(b, n, 1)
    xyxy = torch.cat([boxes_xywh[..., :2], boxes_xywh[..., :2] + boxes_xywh[..., 2:]], dim=-1)
    return torch.cat([idx, xyxy], dim=-1).reshape(b * n, 5)


class TorchAtomIoUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv3_1r = _conv(128, 128)
        self.conv3_1t = _conv(128, 256)
        self.conv3_2t = _conv(256, 256)
        self.fc3_1r = _conv(128, 256, 3, 0)
        self.conv4_1r = _conv(256, 256)
        self.conv4_1t = _conv(256, 256)
        self.conv4_2t = _conv(256, 256)
        self.fc34_3r = _conv(512, 256, 1, 0)
        self.fc34_4r = _conv(512, 256, 1, 0)
        self.fc3_rt = TorchLinearBlock(256, 256, 5)
        self.fc4_rt = TorchLinearBlock(256, 256, 3)
        self.iou_predictor = nn.Linear(512, 1)

    def get_modulation(self, feat3_r, feat4_r, box_ref_xywh):
        rois = _rois(box_ref_xywh[:, None, :])
        roi3r = prroi_pool2d_torch(self.conv3_1r(feat3_r), rois, 3, 3, 1 / 8)
        roi4r = prroi_pool2d_torch(self.conv4_1r(feat4_r), rois, 1, 1, 1 / 16)
        fc34_r = torch.cat([self.fc3_1r(roi3r), roi4r], dim=1)
        b = box_ref_xywh.shape[0]
        return self.fc34_3r(fc34_r).reshape(b, -1), self.fc34_4r(fc34_r).reshape(b, -1)

    def get_iou_feat(self, feat3_t, feat4_t):
        return self.conv3_2t(self.conv3_1t(feat3_t)), self.conv4_2t(self.conv4_1t(feat4_t))

    def predict_iou(self, modulation, iou_feat, proposals_xywh):
        (m3, m4), (c3, c4) = modulation, iou_feat
        rois = _rois(proposals_xywh)
        roi3t = prroi_pool2d_torch(c3 * m3[:, :, None, None], rois, 5, 5, 1 / 8)
        roi4t = prroi_pool2d_torch(c4 * m4[:, :, None, None], rois, 3, 3, 1 / 16)
        fc = torch.cat([self.fc3_rt(roi3t), self.fc4_rt(roi4t)], dim=1)
        return self.iou_predictor(fc).reshape(proposals_xywh.shape[:2])

    def forward(self, feat_ref, feat_test, box_ref_xywh, proposals_xywh):
        modulation = self.get_modulation(feat_ref[0], feat_ref[1], box_ref_xywh)
        return self.predict_iou(modulation, self.get_iou_feat(*feat_test), proposals_xywh)


@torch.no_grad()
def randomize_(module: nn.Module, seed: int) -> nn.Module:
    """Seeded random weights (fan-in scaled) and BatchNorm affine/statistics, in place."""
    gen = torch.Generator().manual_seed(seed)
    for name, tensor in module.state_dict().items():
        if name.endswith("num_batches_tracked"):
            continue
        if name.endswith("running_var"):
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
        elif name.endswith("running_mean") or name.endswith("bias"):
            tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
        elif tensor.ndim == 1:  # BatchNorm weight
            tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
        else:
            fan_in = tensor[0].numel()
            tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
    return module


def state_dict_numpy(module: nn.Module, prefix: str = "") -> dict:
    return {prefix + k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}
