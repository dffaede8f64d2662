"""One training step vs an eager PyTorch step with ltr's semantics: loss, head gradients, Adam update.

In float64 on both sides: with tiny crops, train-mode BatchNorm over a few values per channel and ReLUs next
to their kink amplify float32 rounding to ~1e-2 in some bias gradients, which would hide real differences.

Same seeded random weights on both sides (PyTorch modules with torchvision / pytracking names, converted by
``atom_jax.convert``), the same batch from ``train.processing`` (tiny crops), frozen backbone with running
statistics, IoU head in training mode, ``nn.MSELoss`` and ``torch.optim.Adam(lr=1e-3)``.
"""

from __future__ import annotations

import copy

import jax
import numpy as np
import pytest

from atom_jax.convert import convert_state_dict
from atom_jax.weights import flatten_tree
from train import loop, pipeline
from train import train as T
from train.configs import load_config, resolve_data

pytestmark = pytest.mark.parity


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@pytest.fixture(scope="module")
def setup(torch):
    from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_, state_dict_numpy

    cfg = resolve_data(load_config("tiny"))
    batch = next(pipeline.batches(loop._spec(cfg, "train"), [0], cfg["batch_size"]))[1]
    backbone = randomize_(TorchResNet18(), seed=1).eval()
    head = randomize_(TorchAtomIoUNet(), seed=2).train()
    state = {**state_dict_numpy(backbone, "feature_extractor."), **state_dict_numpy(head, "bb_regressor.")}
    weights, _ = convert_state_dict(state, "parity")
    return cfg, batch, backbone, head, weights


def _torch_step(torch, backbone, head, batch, lr):
    head = copy.deepcopy(head).double()
    backbone = copy.deepcopy(backbone).double()
    batch = {k: v.astype(np.float64) for k, v in batch.items()}
    for k in ("train_images", "test_images"):  # images come in 0..255; ResNet-18 takes ImageNet mean/std
        batch[k] = (batch[k] / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    nchw = lambda x: torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    with torch.no_grad():
        f_ref = backbone(nchw(batch["train_images"]), ("layer2", "layer3"))
        f_test = backbone(nchw(batch["test_images"]), ("layer2", "layer3"))
    as_list = lambda f: [f["layer2"], f["layer3"]] if isinstance(f, dict) else list(f)
    pred = head(as_list(f_ref), as_list(f_test), torch.from_numpy(batch["train_box_xywh"]),
                torch.from_numpy(batch["proposals_xywh"]))
    loss = torch.nn.MSELoss()(pred, torch.from_numpy(batch["proposal_iou"]))
    opt = torch.optim.Adam(head.parameters(), lr=lr)
    opt.zero_grad()
    loss.backward()
    grads = {"bb_regressor." + k: p.grad.detach().numpy().copy() for k, p in head.named_parameters()}
    opt.step()
    after = {"bb_regressor." + k: v.detach().numpy().copy() for k, v in head.state_dict().items()}
    return float(loss.detach()), grads, after


def test_loss_gradients_and_adam_step_match_pytorch(torch, setup):
    cfg, batch, backbone, head, weights = setup
    loss_t, grads_t, after_t = _torch_step(torch, backbone, head, batch, cfg["learning_rate"])
    with jax.enable_x64(True):
        _compare(cfg, batch, head, weights, loss_t, grads_t, after_t)


def _compare(cfg, batch, head, weights, loss_t, grads_t, after_t):
    to_tree = lambda sd: flatten_tree(convert_state_dict({**sd}, "ref", parts=("iou_net",))[0]["iou_net"])
    f64 = lambda tree: jax.tree_util.tree_map(lambda a: jax.numpy.asarray(a, jax.numpy.float64), tree)
    weights, batch = f64(weights), f64(batch)
    trainable = T.trainable_of(weights, False)
    # the step's own gradient function, jitted: one compilation instead of one per operation
    (loss, _), grads = jax.jit(T.loss_and_grad(cfg))(trainable, weights, batch)
    assert loss.dtype == jax.numpy.float64
    assert rel_err(loss, loss_t) < 1e-10
    # Gradients through the converter's name mapping (it stores float32: compare at float32 resolution).
    g_ref = to_tree({**{"bb_regressor." + k: v.detach().numpy() for k, v in head.state_dict().items()}, **grads_t})
    g_ours = flatten_tree({"params": grads["iou_net"]})
    for path, value in g_ours.items():
        if path.endswith("conv/bias") or path.endswith("linear/bias"):
            # zero true gradient (a bias before a train-mode BatchNorm): rounding noise on both sides
            assert np.linalg.norm(value) < 1e-9 * np.linalg.norm(g_ours[path[:-4] + "kernel"]), path
            continue
        assert rel_err(value, g_ref[path]) < 1e-6, path

    before_all = flatten_tree(jax.tree_util.tree_map(np.asarray, weights["iou_net"]))  # the step donates them
    state = {"step": np.zeros((), np.int32), "weights": weights,
             "opt_state": T.make_optimizer(cfg).init(trainable)}
    new_state, metrics = T.make_train_step(cfg)(state, batch)
    assert rel_err(metrics["loss"], loss_t) < 1e-10
    ref_after = to_tree(after_t)
    ours_after = flatten_tree(jax.tree_util.tree_map(np.asarray, new_state["weights"]["iou_net"]))
    for path, value in ours_after.items():
        if path.endswith("conv/bias") or path.endswith("linear/bias"):
            continue  # Adam's first step takes the sign of the (noise) gradient there
        if path.startswith("batch_stats"):
            assert rel_err(value, ref_after[path]) < 1e-6, path  # running statistics after one update
        else:
            # Adam's first step moves each weight by lr * g / (|g| + eps), about lr: compare the update (the
            # reference weights went through float32, so its update is known to ~1e-7 absolute).
            before = before_all[path]
            np.testing.assert_allclose(value - before, ref_after[path] - before, rtol=0, atol=2e-7, err_msg=path)
