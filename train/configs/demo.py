"""An IoU head trained on synthetic sequences only (scikit-image's bundled photos, nothing downloaded, no dataset
needed), on top of a fixed seeded random ResNet-18 (not stored: the weights file names its seed). This made the
earlier built-in weights; the built-in weights are now ``lite0``'s (ImageNet EfficientNet-Lite0 features).

Smaller than ATOM's setting so that it trains on a shared 2-core CPU: 128x128 crops with the search area scaled by
128/288 (so the target has the same size in pixels as in the tracker's 288 crops, about 58 px) and the center
jitter scaled alike, batches of 8 (1000 steps took about an hour here)::

    atom-jax train --config demo --workdir runs/demo
    atom-jax track --weights runs/demo/weights.npz ...
"""

from train.configs import atom_default

SYNTH = {"num_frames": 120, "frame_wh": [320, 240]}


def get_config() -> dict:
    cfg = atom_default.get_config()
    scale = 128 / 288
    cfg["data"].update({
        "train": [{"kind": "synthetic", "num": 5000, "seed": 1, "config": SYNTH}],
        "train_weights": [1.0],
        "val": [{"kind": "synthetic", "num": 200, "seed": 2, "config": SYNTH}],
        "val_weights": [1.0],
    })
    cfg["processing"].update({"output_size": 128, "search_area_factor": 5.0 * scale,
                              "center_jitter": [0.0, 4.5 * scale]})
    cfg.update({"batch_size": 8, "num_epochs": 4, "steps_per_epoch": 250, "lr_decay_epochs": 2,
                "val_every_epochs": 2, "val_steps": 10, "num_workers": 1, "prefetch": 2,
                "checkpoint_every_steps": 25, "log_every_steps": 10})
    return cfg
