"""A seconds-long run for tests: 64x64 crops of tiny synthetic sequences, 6 steps of 4 pairs::

    atom-jax train --config tiny --workdir /tmp/atom_tiny
"""

from train.configs import demo


def get_config() -> dict:
    cfg = demo.get_config()
    synth = {"num_frames": 30, "frame_wh": [96, 72]}
    cfg["data"].update({"train": [{"kind": "synthetic", "num": 8, "seed": 1, "config": synth}],
                        "val": [{"kind": "synthetic", "num": 4, "seed": 2, "config": synth}]})
    cfg["processing"].update({"output_size": 64})
    cfg.update({"batch_size": 4, "num_epochs": 2, "steps_per_epoch": 3, "lr_decay_epochs": 1,
                "val_every_epochs": 1, "val_steps": 1, "num_workers": 0, "checkpoint_every_steps": 2,
                "keep_checkpoints": 2, "log_every_steps": 1})
    return cfg
