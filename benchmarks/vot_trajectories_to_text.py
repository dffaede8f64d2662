"""Dump the VOT toolkit's binary trajectories of a workspace as text trajectories that ``atom-jax score
--protocol reset`` reads (``1`` init, ``2`` failure, ``0`` unknown, or ``x,y,w,h`` per line).

Runs in the toolkit's environment (it uses vot-toolkit's own reader)::

    /path/to/votenv/bin/python benchmarks/vot_trajectories_to_text.py WORKSPACE TRACKER OUT
    atom-jax score --dataset vot --root WORKSPACE/sequences --protocol reset --results OUT

so that the toolkit's ``vot analysis`` numbers can be compared with ours on the very same trajectories.
"""

import pathlib
import sys

from vot.region import Special
from vot.region.io import read_trajectory_binary


def main(workspace, tracker, out):
    for path in sorted(pathlib.Path(workspace, "results", tracker, "baseline").glob("*/*_[0-9][0-9][0-9].bin")):
        with open(path, "rb") as fp:
            regions = read_trajectory_binary(fp)
        lines = []
        for r in regions:
            if isinstance(r, Special):
                lines.append(str(r.code))
            else:
                x, y, w, h = r.x, r.y, r.width, r.height
                lines.append(",".join("%.4f" % v for v in (x, y, w, h)))
        target = pathlib.Path(out, path.parent.name, path.stem + ".txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("\n".join(lines) + "\n")
        print(target)


if __name__ == "__main__":
    main(*sys.argv[1:4])
