"""The ``atom-jax`` command line.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and ``run(args) -> int``.
Modules are imported only when their subcommand runs, so ``atom-jax --help`` stays fast and a subcommand's
heavy imports (JAX, PyTorch) are paid only by that subcommand.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from atom_jax.errors import InputError

# name -> (module, one-line help). Order is the order shown in --help.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("track.demo", "generate a synthetic sequence, track it with the demo weights, write video, boxes and plot"),
    "track": ("track.cli_track", "track one sequence (frame folder or video) from an initial box"),
    "eval": ("track.cli_eval", "run a tracker over a benchmark dataset (resumable, batched, several seeds)"),
    "score": ("track.cli_score", "compute success/precision metrics of a results folder"),
    "compare": ("track.cli_compare", "side-by-side per-sequence comparison of several results folders"),
    "report": ("track.cli_report", "one self-contained HTML page: plots, per-sequence and attribute tables, failures"),
    "train": ("train.main", "train the IoU-Net offline"),
    "convert": ("atom_jax.convert", "write a self-contained atom-jax .npz from any weights file (.pth, or .npz)"),
    "bench": ("track.bench", "time tracker initialisation, per-frame steps and batched tracking"),
}


# Raised for the user's input anywhere in the project: printed as one line, exit code 2, no traceback.
CLIError = InputError


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    parser = argparse.ArgumentParser(
        prog="atom-jax",
        description="ATOM visual object tracking in JAX (Danelljan et al., CVPR 2019).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    parsers = {}
    for name, (_, help_text) in SUBCOMMANDS.items():
        parsers[name] = sub.add_parser(name, help=help_text, description=help_text)
    return parser, parsers


def _load(name: str):
    module_name = SUBCOMMANDS[name][0]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if err.name and (err.name == module_name or module_name.startswith(err.name + ".")):
            raise CLIError(f"'atom-jax {name}' is not available in this version ({module_name} is missing)") from err
        raise


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, parsers = build_parser()
    # Only the chosen subcommand's module is imported, to add its arguments.
    command = next((a for a in argv if not a.startswith("-")), None)
    try:
        if command in SUBCOMMANDS:
            module = _load(command)
            module.add_arguments(parsers[command])
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 0
        return int(module.run(args) or 0)
    except CLIError as err:
        print(f"atom-jax {command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"atom-jax {command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
