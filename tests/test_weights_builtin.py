"""Built-in weights and files that do not store their backbone: loading by name, the backbone recipe in a
file's meta, the tracker settings it carries, and ``atom-jax track`` with no ``--weights``."""

from __future__ import annotations

import numpy as np
import pytest

from atom_jax import backbones
from atom_jax.errors import InputError
from atom_jax.iou_net import dims, init_iou_net
from atom_jax.weights import (BUILTIN, load_weights, load_weights_with_meta, resolve_path, save_weights,
                              tracker_settings)


def test_builtin_demo_weights_load_complete_with_their_settings():
    weights, meta = load_weights_with_meta("demo")
    assert set(weights) == {"backbone", "iou_net"}
    assert backbones.identify(weights["backbone"]) == "efficientnet_lite0"
    settings = tracker_settings(meta)
    assert settings["backbone"] == "efficientnet_lite0"
    # The head reads the maps the settings name, with their channel counts.
    lite0 = backbones.get("efficientnet_lite0")
    assert dims(weights["iou_net"])["input_dim"] == tuple(lite0.channels(n) for n in settings["iou_layers"])
    assert meta["backbone"] == {"name": "efficientnet_lite0", "weights": "pretrained",
                                "source": lite0.pretrained_source}
    assert set(BUILTIN) >= {"demo"} and resolve_path(None) == resolve_path("demo")


def test_bad_weights_arguments_say_what_to_give(tmp_path):
    with pytest.raises(InputError, match="weights file not found.*built-in name: demo"):
        resolve_path(tmp_path / "none.npz")
    with pytest.raises(InputError, match="a folder, not a weights file"):
        resolve_path(tmp_path)


def test_head_only_file_gets_its_seeded_backbone(tmp_path):
    import jax

    head = jax.tree_util.tree_map(np.asarray, init_iou_net(jax.random.PRNGKey(3)))
    new = tmp_path / "new.npz"
    save_weights(new, {"iou_net": head}, {"backbone": {"name": "resnet18", "init_seed": 5}})
    old = tmp_path / "old.npz"  # files written before the recipe existed
    save_weights(old, {"iou_net": head}, {"backbone_init_seed": 5})
    a, b = load_weights(new), load_weights(old)
    assert backbones.identify(a["backbone"]) == "resnet18"
    for x, y in zip(jax.tree_util.tree_leaves(a["backbone"]), jax.tree_util.tree_leaves(b["backbone"])):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    seeded = jax.jit(backbones.get("resnet18").init)(jax.random.PRNGKey(5))
    np.testing.assert_array_equal(np.asarray(a["backbone"]["params"]["conv1"]["kernel"]),
                                  np.asarray(seeded["params"]["conv1"]["kernel"]))
    assert set(load_weights(new, complete_backbone=False)) == {"iou_net"}
    bad = tmp_path / "bad.npz"
    save_weights(bad, {"iou_net": head}, {"backbone": {"name": "vgg16", "init_seed": 0}})
    with pytest.raises(InputError, match="unknown backbone 'vgg16'"):
        load_weights(bad)


def test_settings_of_the_file_then_the_users_overrides():
    from track.api import make_config

    settings = {"backbone": "efficientnet_lite0", "classifier_layer": "block10",
                "iou_layers": ["block5_expand", "block10"], "output_sigma_factor": 0.2}
    cfg = make_config({"output_sigma_factor": "0.3"}, settings)
    assert cfg.backbone == "efficientnet_lite0" and cfg.iou_layers == ("block5_expand", "block10")
    assert cfg.output_sigma_factor == 0.3
    ms = make_config({"ablation": "multiscale_no_iounet"}, settings)
    assert ms.backbone == "efficientnet_lite0" and not ms.use_iou_net and len(ms.scale_factors) == 5
    with pytest.raises(InputError, match="has stride 8, this tracker needs 16"):
        make_config({"classifier_layer": "block4"}, settings)
    with pytest.raises(InputError, match="has no feature map 'layer3'"):
        make_config({"backbone": "efficientnet_lite0"})


@pytest.mark.xdist_group("builtin_tracker")
@pytest.mark.slow
def test_track_without_weights_uses_the_builtin_ones(tmp_path, capsys):
    import cv2

    from atom_jax.cli import main
    from atom_jax.data import synthetic

    # The demo's frame size: this test and tests/test_demo.py share the compiled tracker (xdist group).
    seq = synthetic.make_sequence(0, synthetic.bundled_images(), synthetic.SyntheticConfig(num_frames=5,
                                                                                            frame_wh=(480, 360)))
    frames = tmp_path / "img"
    frames.mkdir()
    for t in range(5):
        cv2.imwrite(str(frames / f"{t + 1:04d}.png"), cv2.cvtColor(synthetic.render_frame(seq, t), cv2.COLOR_RGB2BGR))
    x, y, w, h = seq.boxes_xywh[0]
    out = tmp_path / "boxes.txt"
    assert main(["track", "--frames", str(frames), "--init", f"{x},{y},{w},{h}", "--out", str(out)]) == 0
    boxes = np.loadtxt(out)
    assert boxes.shape == (5, 4) and np.all(np.isfinite(boxes))
    # Frames 2-5 tracked: the box stays on the target (IoU with the ground truth well above chance).
    from track.metrics import iou_xywh

    assert np.mean(iou_xywh(boxes[1:], seq.boxes_xywh[1:5])) > 0.3


def test_a_file_missing_a_part_is_one_line_naming_file_and_part(tmp_path, capsys):
    import jax

    from atom_jax.cli import main

    frames = tmp_path / "img"
    frames.mkdir()
    import cv2

    cv2.imwrite(str(frames / "0001.png"), np.zeros((40, 50, 3), np.uint8))
    zeros = lambda tree: jax.tree_util.tree_map(lambda s: np.zeros(s.shape, np.float32), tree)
    head_only = tmp_path / "head_only.npz"  # no backbone and no recipe for one
    save_weights(head_only, {"iou_net": zeros(jax.eval_shape(init_iou_net, jax.random.PRNGKey(0)))})
    backbone_only = tmp_path / "backbone_only.npz"
    save_weights(backbone_only, {"backbone": zeros(jax.eval_shape(backbones.get("resnet18").init,
                                                                   jax.random.PRNGKey(0)))})
    for path, part in ((head_only, "'backbone'"), (backbone_only, "'iou_net'")):
        assert main(["track", "--weights", str(path), "--frames", str(frames), "--init", "1,1,5,5",
                     "--out", str(tmp_path / "o.txt")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(path) in err and f"has no {part}" in err, err
    # Another backbone than the settings name: said as such.
    assert main(["track", "--weights", str(backbone_only), "--frames", str(frames), "--init", "1,1,5,5",
                 "--out", str(tmp_path / "o.txt"), "--set", "use_iou_net=False", "--set", "backbone=efficientnet_lite0",
                 "--set", "classifier_layer=block10", "--set", "iou_layers=['block5_expand','block10']"]) == 2
    assert "holds a resnet18 backbone" in capsys.readouterr().err
