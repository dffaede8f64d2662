"""ATOM's IoU-Net training as in the paper / ltr's ``bbreg/atom.py``: LaSOT, GOT-10k, TrackingNet (chunks 0-3)
and COCO 2017 with equal weights, 50 epochs of 1000 batches of 64 pairs, Adam 1e-3 x0.2 every 15 epochs,
validation on GOT-10k every 5 epochs. Set the dataset roots, e.g.::

    atom-jax train --config atom_default --workdir runs/atom \
        --set data.roots.lasot=/data/LaSOTBenchmark --set data.roots.got10k=/data/got10k/train \
        --set data.roots.trackingnet=/data/TrackingNet --set data.roots.coco=/data/coco

For ImageNet features start from a converted torchvision ResNet-18 (``atom-jax convert resnet18.pth
--out r18.npz``) with ``--set init.backbone_weights=r18.npz``. The roots fill ``data.train`` / ``data.val``
when those are left empty (see :func:`resolve_data`).
"""


def get_config() -> dict:
    return {
        "seed": 0,
        "data": {
            "roots": {"lasot": "", "got10k": "", "trackingnet": "", "coco": "", "got10k_val": ""},
            "train": [],  # dataset specs {"kind": ..., ...}; filled from roots when empty
            "train_weights": [],
            "val": [],
            "val_weights": [],
        },
        "processing": {
            "search_area_factor": 5.0, "output_size": 288, "center_jitter": [0.0, 4.5], "scale_jitter": [0.0, 0.5],
            "num_proposals": 16, "sigma_factors": [0.01, 0.05, 0.1, 0.2, 0.3], "min_iou": 0.1,
            "grayscale_prob": 0.05, "brightness_jitter": 0.2, "max_gap": 50,
        },
        "batch_size": 64,
        "num_epochs": 50,
        "steps_per_epoch": 1000,
        "val_every_epochs": 5,
        "val_steps": 500,
        "learning_rate": 1e-3,
        "lr_decay_epochs": 15,
        "lr_decay": 0.2,
        "train_backbone": False,
        "backbone_bn_train": False,  # True: ltr's batch statistics in the frozen backbone
        "init": {"backbone_seed": 0, "iou_net_seed": 1, "backbone_weights": "", "iou_net_weights": ""},
        "checkpoint_every_steps": 1000,
        "keep_checkpoints": 3,
        "num_workers": 8,
        "prefetch": 4,
        "log_every_steps": 20,
        "export": "weights.npz",
        "export_backbone": False,
    }
