"""Build a local VOT toolkit workspace from sequences of any supported dataset (no download needed).

    python -m track.vot_workspace --dataset generic --root DATA --out WORKSPACE --tracker mil

writes ``WORKSPACE/sequences`` in the toolkit's "default" layout (``list.txt``; per sequence ``color/%08d.jpg``
links, ``groundtruth.txt`` and a ``sequence`` metadata file), a stack file with VOT2018's reset-based
("baseline") experiment and, with ``--experiments baseline,unsupervised``, its unsupervised one (one pass,
average accuracy), ``config.yaml`` and ``trackers.ini`` with this repository's TraX entry. Then, with the
toolkit (``vot-toolkit==0.7.4`` and ``attributee==0.1.9``, in its own environment)::

    vot evaluate atom_jax --workspace WORKSPACE && vot analysis atom_jax --workspace WORKSPACE --format json

OTB/UAV ground truth is 1-based; VOT's is 0-based: boxes from those datasets are written as ``x-1, y-1, w, h``.
VOT polygons are written as they are.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys

from atom_jax.data.files import read_image_rgb
from atom_jax.errors import InputError
from track.files import atomic_write_text

STACK_HEADER = "title: atom-jax local evaluation\nexperiments:\n"
# The experiments of VOT2018's short-term stack, as vot-toolkit 0.7.4 names and analyses them.
EXPERIMENTS = {
    "baseline": """  baseline:
    type: supervised
    repetitions: {repetitions}
    skip_initialize: 5
    analyses:
      - type: supervised_average_ar
        sensitivity: 30
      - type: supervised_eao_score
        low: {eao_low}
        high: {eao_high}
""",
    "unsupervised": """  unsupervised:
    type: unsupervised
    repetitions: {repetitions}
    analyses:
      - type: average_accuracy
""",
}


def stack_text(experiments=("baseline",), repetitions: int = 1, eao_range=(100, 356)) -> str:
    """The stack file for ``experiments`` (names of :data:`EXPERIMENTS`)."""
    unknown = [e for e in experiments if e not in EXPERIMENTS]
    if unknown or not experiments:
        raise InputError(f"unknown VOT experiment {', '.join(unknown) or '(none)'}; choose from "
                         f"{', '.join(EXPERIMENTS)}")
    return STACK_HEADER + "".join(EXPERIMENTS[e].format(repetitions=repetitions, eao_low=eao_range[0],
                                                        eao_high=eao_range[1]) for e in experiments)


TRACKERS_INI = """[atom_jax]
label = atom-jax {tracker}
protocol = traxpython
command = track.trax_entry
paths = {repo}
python = {python}
timeout = 600
env_ATOM_JAX_TRACKER = {tracker}
env_ATOM_JAX_WEIGHTS = {weights}
env_ATOM_JAX_SET = {overrides}
env_JAX_COMPILATION_CACHE_DIR = {cache}
"""

ONE_BASED = ("otb", "uav", "generic", "nfs")


def write_vot_sequence(seq, out_dir: pathlib.Path) -> None:
    folder = out_dir / seq.name
    (folder / "color").mkdir(parents=True, exist_ok=True)
    for i, src in enumerate(seq.frames, start=1):
        link = folder / "color" / f"{i:08d}.jpg"
        if not link.exists():
            if src.lower().endswith((".jpg", ".jpeg")):
                os.symlink(os.path.abspath(src), link)
            else:  # the toolkit reads by the .jpg name; re-encode other formats
                import cv2

                cv2.imwrite(str(link), cv2.cvtColor(read_image_rgb(src), cv2.COLOR_RGB2BGR))
    if seq.regions is not None:
        rows = seq.regions
    else:
        rows = seq.ground_truth_xywh.copy()
        if seq.dataset in ONE_BASED:
            rows[:, :2] -= 1
    atomic_write_text(folder / "groundtruth.txt", "".join(",".join("%g" % v for v in r) + "\n" for r in rows))
    height, width = read_image_rgb(seq.frames[0]).shape[:2]
    meta = {"channels.color": "color/%08d.jpg", "format": "default", "fps": 30, "name": seq.name,
            "width": width, "height": height, "length": len(seq.frames)}
    atomic_write_text(folder / "sequence", "".join(f"{k}={v}\n" for k, v in meta.items()))


def build_workspace(sequences, workspace, tracker="atom", weights="", overrides="", python=None,
                    repetitions: int = 1, eao_range=(100, 356), experiments=("baseline",)) -> pathlib.Path:
    workspace = pathlib.Path(workspace).resolve()
    seq_dir = workspace / "sequences"
    for seq in sequences:
        write_vot_sequence(seq, seq_dir)
    atomic_write_text(seq_dir / "list.txt", "".join(s.name + "\n" for s in sequences))
    stack = workspace / "stack.yaml"
    atomic_write_text(stack, stack_text(experiments, repetitions, eao_range))
    atomic_write_text(workspace / "config.yaml", f"registry:\n- ./trackers.ini\nstack: {stack}\nsequences: {seq_dir}\n")
    repo = pathlib.Path(__file__).resolve().parents[1]
    atomic_write_text(workspace / "trackers.ini", TRACKERS_INI.format(
        tracker=tracker, repo=repo, python=python or sys.executable, weights=weights, overrides=overrides,
        cache=workspace / "jax_cache"))
    return workspace


def main(argv=None) -> int:
    from atom_jax.data.registry import load_dataset

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--sequences", default=None)
    parser.add_argument("--out", required=True)
    parser.add_argument("--tracker", default="atom")
    parser.add_argument("--weights", default="")
    parser.add_argument("--set", default="", help="';'-separated name=value overrides")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--eao-range", default="100,356")
    parser.add_argument("--experiments", default="baseline",
                        help="comma-separated: baseline (reset-based: accuracy, robustness, EAO) and/or unsupervised "
                             "(one pass from the first frame: average accuracy)")
    args = parser.parse_args(argv)
    names = args.sequences.split(",") if args.sequences else None
    try:
        seqs = load_dataset(args.dataset, args.root, names)
    except InputError as err:
        from track.cli_common import generic_hint

        hint = generic_hint(args.dataset, args.root, names)
        raise InputError(f"{err}; {hint}" if hint else str(err)) from None
    low, high = (int(v) for v in args.eao_range.split(","))
    weights = str(pathlib.Path(args.weights).resolve()) if args.weights else ""
    experiments = tuple(e.strip() for e in args.experiments.split(",") if e.strip())
    ws = build_workspace(seqs, args.out, args.tracker, weights, args.set, repetitions=args.repetitions,
                         eao_range=(low, high), experiments=experiments)
    print(f"workspace ready: {ws} ({len(seqs)} sequences)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except InputError as err:
        sys.exit(f"{pathlib.Path(__file__).stem}: error: {err}")
