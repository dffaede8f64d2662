"""Dump the VOT toolkit's binary trajectories of a workspace as text trajectories that ``atom-jax score
--protocol reset`` reads (``1`` init, ``2`` failure, ``0`` unknown, or ``x,y,w,h`` per line).

Runs in the toolkit's environment (it uses vot-toolkit's own reader)::

    votenv/bin/python benchmarks/vot_trajectories_to_text.py WORKSPACE TRACKER OUT [--experiment baseline]
    atom-jax score --dataset vot --root WORKSPACE/sequences --protocol reset --results OUT

so that the toolkit's ``vot analysis`` numbers can be compared with ours on the very same trajectories. Any
experiment of the workspace converts (``--experiment``, default ``baseline``; a wrong name lists those with
results). An ``unsupervised`` trajectory is one initialisation and then a box per frame, so the same ``score
--protocol reset`` gives the toolkit's unsupervised average accuracy (its "accuracy", with no failures).
"""

import argparse
import pathlib
import sys

from vot.region import Special
from vot.region.io import read_trajectory_binary


def convert(workspace, tracker, out, experiment="baseline") -> list:
    folder = pathlib.Path(workspace, "results", tracker, experiment)
    paths = sorted(folder.glob("*/*_[0-9][0-9][0-9].bin"))
    if not paths:
        found = sorted(p.name for p in folder.parent.iterdir() if p.is_dir()) if folder.parent.is_dir() else []
        raise SystemExit(f"{folder}: no trajectories (experiments with results: {', '.join(found) or 'none'})")
    written = []
    for path in paths:
        with open(path, "rb") as fp:
            regions = read_trajectory_binary(fp)
        lines = []
        for r in regions:
            if isinstance(r, Special):
                lines.append(str(r.code))
            else:
                lines.append(",".join("%.4f" % v for v in (r.x, r.y, r.width, r.height)))
        target = pathlib.Path(out, path.parent.name, path.stem + ".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("workspace")
    parser.add_argument("tracker")
    parser.add_argument("out")
    parser.add_argument("--experiment", default="baseline", help="experiment of the stack (default baseline)")
    args = parser.parse_args(argv)
    for path in convert(args.workspace, args.tracker, args.out, args.experiment):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
