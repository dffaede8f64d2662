"""VOT's reset-based ("supervised", VOT2016-2019 baseline) protocol and its measures: accuracy, robustness, EAO.

Protocol (as vot-toolkit's ``SupervisedExperiment`` with ``skip_initialize: 5``): initialise on frame f; track;
a frame whose overlap with the ground truth is ``<= failure_overlap`` (0) is a failure, and the tracker is
initialised again 5 frames later (frames in between are unknown). A trajectory is stored as VOT writes it: per
frame ``1`` (initialisation), ``2`` (failure), ``0`` (unknown) or ``x,y,w,h``.

Measures (vot-toolkit's supervised analyses; defaults of the VOT2018 stack):
  * accuracy: mean overlap over the frames with a box, leaving out the ``burnin`` = 10 frames that start at
    each initialisation; robustness: the number of failures. Over sequences both are averaged with the
    sequence lengths as weights.
  * EAO: every initialisation starts a segment that ends at the next failure (padded with zero overlap to the
    longest segment) or at the end of the sequence (then shorter segments simply stop counting); the curve
    at length L is the mean over segments of the average overlap of frames 1..L; EAO = the curve's mean over
    lengths ``low..high`` (100..356).
Overlaps (``overlap=``): ``"raster"`` (the default) counts pixels as vot-toolkit 0.7.4 does, so failures and
measures are the toolkit's (a box whose overlap with the ground truth is a strip under half a pixel wide
rounds to no shared pixel: a failure); ``"exact"`` intersects the regions clipped to the image on the
continuous plane (polygon clipping), which differs from the toolkit by about a pixel's share of the area.

The toolkit's rasterisation, as implemented in :func:`raster_overlap`: coordinates are float32 (as TraX and
its files carry them) rounded half to even; a rectangle ``x,y,w,h`` covers pixel columns ``x .. x+w-1`` and
rows ``y .. y+h-1``; a polygon is scan-converted row by row (edge crossings truncated to integers, spans filled
inclusively). Pixels are counted inside the union of the two regions' integer bounds cut to the image; a union
with no width or height gives 1 (two empty regions agree), a cut-away one 0.
"""

from __future__ import annotations

import numpy as np

UNKNOWN, INITIALIZATION, FAILURE = 0, 1, 2


# --- geometry ----------------------------------------------------------------------------------------------

def _as_polygon(region) -> np.ndarray:
    region = np.asarray(region, dtype=np.float64).ravel()
    if len(region) == 4:
        x, y, w, h = region
        return np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    return region.reshape(-1, 2)


def polygon_area(poly: np.ndarray) -> float:
    """Shoelace area (absolute)."""
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def clip_convex(subject: np.ndarray, clip: np.ndarray) -> np.ndarray:
    """Sutherland-Hodgman: the part of polygon ``subject`` inside convex polygon ``clip``."""
    if polygon_area(clip) == 0 or len(subject) == 0:
        return np.zeros((0, 2))
    signed = np.dot(clip[:, 0], np.roll(clip[:, 1], -1)) - np.dot(clip[:, 1], np.roll(clip[:, 0], -1))
    if signed < 0:  # make the clip polygon counter-clockwise
        clip = clip[::-1]
    out = list(subject)
    for a, b in zip(clip, np.roll(clip, -1, axis=0)):
        if not out:
            break
        edge = b - a
        inside = [edge[0] * (p[1] - a[1]) - edge[1] * (p[0] - a[0]) >= 0 for p in out]
        new = []
        for i, p in enumerate(out):
            q, q_in = out[i - 1], inside[i - 1]
            if inside[i] != q_in:  # the segment q -> p crosses the edge line
                d = p - q
                den = edge[0] * d[1] - edge[1] * d[0]
                t = (edge[1] * (q[0] - a[0]) - edge[0] * (q[1] - a[1])) / den
                new.append(q + t * d)
            if inside[i]:
                new.append(p)
        out = new
    return np.asarray(out).reshape(-1, 2)


def _raster_bounds(region: np.ndarray) -> tuple[int, int, int, int]:
    """Inclusive integer pixel bounds ``(left, top, right, bottom)`` of a rounded region."""
    if len(region) == 4:
        x, y, w, h = region
        return int(x), int(y), int(x + w - 1), int(y + h - 1)
    xs, ys = region[0::2], region[1::2]
    return int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())


def _raster_mask(region: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """Boolean mask of a rounded region over the inclusive pixel window ``bounds``."""
    left, top, right, bottom = bounds
    width, height = right - left + 1, bottom - top + 1
    mask = np.zeros((height, width), dtype=bool)
    if len(region) == 4:
        x0, y0, x1, y1 = _raster_bounds(region)
        mask[max(y0 - top, 0):max(y1 - top + 1, 0), max(x0 - left, 0):max(x1 - left + 1, 0)] = True
        return mask
    pts = region.reshape(-1, 2) - np.array([left, top], dtype=region.dtype)
    prev = np.roll(pts, 1, axis=0)  # edge k joins vertex k-1 and vertex k
    for row in range(height):
        crossings = []
        for (xi, yi), (xj, yj) in zip(pts, prev):
            if min(yi, yj) <= row <= max(yi, yj):  # the edge meets the row (both ends count)
                x = xi + (row - yi) / (yj - yi) * (xj - xi) if yj != yi else xi
                crossings.append(int(x))  # truncated toward zero, as an integer store does
        crossings.sort()
        k = 0
        while k < len(crossings) - 1:
            a, b = crossings[k], crossings[k + 1]
            if a >= width:
                break
            if a == b and k < len(crossings) - 2:  # a vertex on the row counted twice: drop one
                k += 1
                continue
            if b >= 0:
                mask[row, max(a, 0):min(b, width - 1) + 1] = True
            k += 2
    return mask


def raster_overlap(a, b, image_wh=None) -> float:
    """The VOT toolkit's overlap of two regions: pixels of the rasterised regions inside the image (see the module
    docstring). ``a``, ``b``: ``x,y,w,h`` rectangles or ``x1,y1,...`` polygons."""
    ra, rb = (np.round(np.asarray(r, dtype=np.float32).ravel()).astype(np.float64) for r in (a, b))
    ba, bb = _raster_bounds(ra), _raster_bounds(rb)
    union = (min(ba[0], bb[0]), min(ba[1], bb[1]), max(ba[2], bb[2]), max(ba[3], bb[3]))
    if union[0] >= union[2] or union[1] >= union[3]:
        return 1.0
    if image_wh is not None:
        union = (max(0, union[0]), max(0, union[1]), min(image_wh[0] - 1, union[2]), min(image_wh[1] - 1, union[3]))
        if union[0] >= union[2] or union[1] >= union[3]:
            return 0.0
    ma, mb = _raster_mask(ra, union), _raster_mask(rb, union)
    total = int(np.count_nonzero(ma | mb))
    return int(np.count_nonzero(ma & mb)) / total if total else 0.0


def region_overlap(a, b, image_wh=None, overlap: str = "exact") -> float:
    """IoU of two regions (``x,y,w,h`` rectangles or ``x1,y1,...`` polygons), both clipped to the image when
    ``image_wh`` is given. Two empty regions overlap 1 (VOT's convention), one empty region 0. ``overlap``:
    ``"exact"`` (continuous plane) or ``"raster"`` (the toolkit's pixels, :func:`raster_overlap`)."""
    if overlap == "raster":
        return raster_overlap(a, b, image_wh)
    if overlap != "exact":
        raise ValueError(f"overlap must be 'raster' or 'exact', got {overlap!r}")
    pa, pb = _as_polygon(a), _as_polygon(b)
    if image_wh is not None:
        frame = _as_polygon([0, 0, image_wh[0], image_wh[1]])
        pa, pb = clip_convex(pa, frame), clip_convex(pb, frame)
    area_a, area_b = polygon_area(pa), polygon_area(pb)
    if area_a == 0 and area_b == 0:
        return 1.0
    inter = polygon_area(clip_convex(pa, pb)) if area_a > 0 and area_b > 0 else 0.0
    return inter / (area_a + area_b - inter)


# --- protocol ----------------------------------------------------------------------------------------------

def run_supervised(make_tracker, frames, regions, skip_initialize: int = 5, failure_overlap: float = 0.0,
                   init_box_fn=None, overlap: str = "raster"):
    """One reset-based run over image files ``frames``. ``regions``: ground truth per frame (rectangles or
    polygons); ``init_box_fn`` turns a region into the initial ``x,y,w,h`` box (default: its axis-aligned
    bounding box, what libtrax gives a rectangle-only tracker); ``overlap`` decides failures (``"raster"``: as
    the toolkit, ``"exact"``: continuous plane). Returns ``(kinds (N,) int, boxes (N, 4), image_wh)`` with
    kinds 0/1/2 as in VOT and 3 for a frame with a box."""
    from atom_jax.data.files import read_image_rgb
    from atom_jax.data.folders import polygon_to_xywh

    init_box_fn = init_box_fn or (lambda r: polygon_to_xywh(np.asarray(r, dtype=np.float64)[None])[0])
    n = len(regions)
    kinds = np.zeros(n, dtype=np.int64)
    boxes = np.zeros((n, 4))
    image_wh = None
    frame = 0
    while frame < n:
        image = read_image_rgb(frames[frame])
        image_wh = image_wh or (image.shape[1], image.shape[0])
        tracker = make_tracker()
        tracker.initialize(image, init_box_fn(regions[frame]))
        kinds[frame] = INITIALIZATION
        frame += 1
        while frame < n:
            box = np.asarray(tracker.update(read_image_rgb(frames[frame])), dtype=np.float64)
            if region_overlap(box, regions[frame], image_wh, overlap) <= failure_overlap:
                kinds[frame] = FAILURE
                frame += skip_initialize
                break
            kinds[frame], boxes[frame] = 3, box
            frame += 1
    return kinds, boxes, image_wh


def format_trajectory(kinds, boxes) -> str:
    lines = [f"{k:d}" if k != 3 else ",".join("%.4f" % v for v in b) for k, b in zip(kinds, boxes)]
    return "\n".join(lines) + "\n"


def parse_trajectory(text: str):
    rows = [line.strip() for line in text.splitlines() if line.strip()]
    kinds = np.zeros(len(rows), dtype=np.int64)
    boxes = np.zeros((len(rows), 4))
    for i, row in enumerate(rows):
        values = [float(v) for v in row.split(",")]
        if len(values) == 1:
            kinds[i] = int(values[0])
        else:
            kinds[i], boxes[i] = 3, values[:4]
    return kinds, boxes


# --- measures ----------------------------------------------------------------------------------------------

def _overlaps(kinds, boxes, regions, image_wh, overlap="raster"):
    return np.array([region_overlap(b, r, image_wh, overlap) if k == 3 else 0.0
                     for k, b, r in zip(kinds, boxes, regions)])


def sequence_accuracy_failures(kinds, boxes, regions, image_wh, burnin: int = 10, overlap: str = "raster"):
    overlaps = _overlaps(kinds, boxes, regions, image_wh, overlap)
    mask = kinds == 3
    for i in np.flatnonzero(kinds == INITIALIZATION):
        mask[i:i + burnin] = False
    accuracy = float(overlaps[mask].mean()) if mask.any() else 0.0
    return accuracy, int((kinds == FAILURE).sum()), overlaps


def eao_curve(segments: list[tuple[np.ndarray, bool]]) -> np.ndarray:
    """``segments``: (overlaps from an initialisation, ended by a failure?) -> expected average overlap curve."""
    length = max(len(o) for o, _ in segments)
    values = np.zeros((len(segments), length))
    mask = np.zeros((len(segments), length))
    for i, (o, failed) in enumerate(segments):
        values[i, :len(o)] = o
        mask[i, :] = 1 if failed else 0
        mask[i, :len(o)] = 1
    averaged = values.copy()
    counts = np.arange(1, length)
    averaged[:, 1:] = np.cumsum(values[:, 1:], axis=1) / counts
    with np.errstate(invalid="ignore"):
        return (averaged * mask).sum(0) / mask.sum(0)


def summarize(runs: dict, burnin: int = 10, eao_range=(100, 356), overlap: str = "raster") -> dict:
    """``runs``: ``{sequence: (regions, image_wh, [(kinds, boxes) per repetition])}`` -> A, R, EAO, per sequence.
    ``overlap``: ``"raster"`` (the toolkit's pixel counts) or ``"exact"``."""
    per_seq, segments = {}, []
    for name, (regions, image_wh, reps) in runs.items():
        accs, fails = [], []
        for kinds, boxes in reps:
            acc, nfail, overlaps = sequence_accuracy_failures(kinds, boxes, regions, image_wh, burnin, overlap)
            accs.append(acc)
            fails.append(nfail)
            inits, failures = np.flatnonzero(kinds == INITIALIZATION), np.flatnonzero(kinds == FAILURE)
            for j, start in enumerate(inits):
                end = failures[j] if j < len(failures) else len(kinds)
                segments.append((overlaps[start:end], j < len(failures)))
        per_seq[name] = {"accuracy": float(np.mean(accs)), "failures": float(np.mean(fails)), "length": len(regions)}
    weights = np.array([s["length"] for s in per_seq.values()], dtype=np.float64)
    curve = eao_curve(segments)
    low, high = eao_range
    return {
        "accuracy": float(np.dot([s["accuracy"] for s in per_seq.values()], weights) / weights.sum()),
        "robustness": float(np.dot([s["failures"] for s in per_seq.values()], weights) / weights.sum()),
        "eao": float(np.mean(curve[low:high + 1])) if len(curve) > low else float("nan"),
        "eao_curve": curve.tolist(),
        "per_sequence": per_seq,
    }
