"""``atom-jax train --config NAME --workdir DIR [--set name=value ...]``: thin wrapper over :mod:`train.loop`.

Multi-host: start one process per host with ``--coordinator HOST:PORT --num-processes N --process-id I``
(``jax.distributed.initialize``); every process runs the same command.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", required=True, help="config name (atom_default, demo, tiny) or a .py file")
    parser.add_argument("--workdir", required=True, help="checkpoints, metrics.jsonl and weights.npz go here")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a config entry, e.g. --set batch_size=32 --set data.roots.lasot=/data/lasot")
    parser.add_argument("--coordinator", default=None, help="jax.distributed coordinator address HOST:PORT")
    parser.add_argument("--num-processes", type=int, default=1)
    parser.add_argument("--process-id", type=int, default=0)
    parser.add_argument("--export-only", action="store_true",
                        help="write weights.npz from the latest checkpoint without training further")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (metrics still go to JSONL)")


def run(args) -> int:
    from train.configs import load_config, resolve_data
    from train.train import apply_overrides

    cfg = resolve_data(apply_overrides(load_config(args.config), args.set))
    if args.coordinator:
        import jax

        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    from train.loop import train_and_evaluate

    train_and_evaluate(cfg, args.workdir, progress=not args.no_progress, export_only=args.export_only)
    return 0
