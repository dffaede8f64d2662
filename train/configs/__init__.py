"""Training configs: each module here has ``get_config() -> dict`` and a docstring with its run command.

``load_config(name)`` takes a module name in this package (``atom_default``, ``demo``, ``tiny``) or a path to a
``.py`` file with a ``get_config()``.
"""

from __future__ import annotations

import importlib
import importlib.util
import pathlib

from atom_jax.errors import InputError

NAMES = ("atom_default", "demo", "lite0", "tiny")


def load_config(name: str) -> dict:
    if name.endswith(".py"):
        path = pathlib.Path(name)
        if not path.is_file():
            raise InputError(f"config file not found: {path}")
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    elif name in NAMES:
        module = importlib.import_module(f"train.configs.{name}")
    else:
        raise InputError(f"unknown config {name!r}: choose one of {', '.join(NAMES)} or give a .py file")
    cfg = module.get_config()
    cfg.setdefault("name", name)
    return cfg


def resolve_data(cfg: dict) -> dict:
    """Fill empty ``data.train`` / ``data.val`` from ``data.roots`` (ATOM's datasets, equal weights; GOT-10k's
    own folder or ``roots.got10k_val`` for validation). Errors when nothing is configured."""
    d = cfg["data"]
    roots = d.get("roots", {})
    for split in ("train", "val"):
        kept, weights = [], []
        given = d[f"{split}_weights"]
        aligned = len(given) == len(d[split])  # one weight per spec: dropping a spec drops its weight
        for i, spec in enumerate(d[split]):
            weight = given[i] if aligned else None
            # A folder given once as data.roots.<key> (plus an optional "subdir"), used by several specs; an
            # "optional" spec whose root is not set is left out with its weight.
            key, subdir, optional = spec.pop("root_key", None), spec.pop("subdir", ""), spec.pop("optional", False)
            if key is not None:
                if not roots.get(key):
                    if optional:
                        continue
                    raise InputError(f"this config reads data.roots.{key}: set it with --set data.roots.{key}=DIR")
                spec["root"] = str(pathlib.Path(roots[key]) / subdir) if subdir else roots[key]
            kept.append(spec)
            weights.append(weight)
        if aligned:
            d[f"{split}_weights"] = weights
        d[split] = kept
    if not d["train"]:
        kinds = {"lasot": {}, "got10k": {}, "trackingnet": {"chunks": [0, 1, 2, 3]}, "coco": {}}
        d["train"] = [{"kind": k, "root": roots[k], **extra} for k, extra in kinds.items() if roots.get(k)]
        d["train_weights"] = [1.0] * len(d["train"])
    if not d["val"]:
        val_root = roots.get("got10k_val") or ""
        if val_root:
            d["val"], d["val_weights"] = [{"kind": "got10k", "root": val_root}], [1.0]
        else:
            cfg["val_steps"] = 0
    if not d["train"]:
        raise InputError("no training data: set data.roots.<dataset>=PATH (lasot, got10k, trackingnet, coco) "
                         "or use --config demo for synthetic data")
    if len(d["train_weights"]) != len(d["train"]):
        raise InputError("data.train_weights must have one weight per dataset in data.train")
    return cfg
