"""Does ``track.vot_protocol.raster_overlap`` give vot-toolkit's overlap? Random rectangle and polygon pairs, some
on half-pixel coordinates, some partly outside the image, compared with the toolkit's ``calculate_overlap``.

Runs in the toolkit's environment, with this repository on the path::

    PYTHONPATH=. votenv/bin/python benchmarks/vot_raster_check.py [--pairs 3000]

Prints the number of pairs, how many overlap partly (0 < IoU < 1), and the mismatches (expected: none).
"""

import argparse
import sys

import numpy as np
from vot.region.raster import calculate_overlap
from vot.region.shapes import Polygon, Rectangle

from track.vot_protocol import raster_overlap


def random_pair(rng):
    width, height = int(rng.integers(20, 200)), int(rng.integers(20, 200))
    x, y = rng.uniform(-30, width), rng.uniform(-30, height)
    box = [x, y, rng.uniform(0, 60), rng.uniform(0, 60)]
    if rng.random() < 0.3:  # integers and halves: where rounding decides
        box = list(np.round(box) + rng.choice([0.0, 0.5, -0.5, 0.3], 4))
        box[2:] = [max(v, 0.0) for v in box[2:]]
    if rng.random() < 0.6:
        other = [x + rng.uniform(-10, 10), y + rng.uniform(-10, 10), rng.uniform(0, 60), rng.uniform(0, 60)]
    else:  # a rotated rectangle as a 4-point polygon
        angle, half = rng.uniform(0, np.pi), rng.uniform(1, 40, 2)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        corners = (np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half) @ rot.T + [x, y]
        other = corners.ravel().tolist()
    return box, other, (width, height)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pairs", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    partial = mismatches = 0
    for _ in range(args.pairs):
        box, other, size = random_pair(rng)
        shape = Rectangle(*other) if len(other) == 4 else Polygon(list(zip(other[0::2], other[1::2])))
        theirs = calculate_overlap(Rectangle(*box), shape, size)
        ours = raster_overlap(box, other, size)
        partial += 0 < theirs < 1
        if abs(theirs - ours) > 1e-12:
            mismatches += 1
            print(f"mismatch: {box} vs {other} in {size}: toolkit {theirs}, ours {ours}")
    print(f"{args.pairs} pairs, {partial} partly overlapping, {mismatches} mismatches")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
