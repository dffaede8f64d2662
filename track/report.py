"""``atom-jax report``'s contents: everything an evaluation page shows, computed from results folders.

:func:`build_report` scores each results folder as ``atom-jax compare`` does (:func:`track.scoring.score_results`:
runs merged as pytracking merges them, the spread over runs kept) and adds what a table does not show:
  * per-frame IoU of every tracker on every sequence (the first run of a multi-run folder), for the IoU strips;
  * per-attribute AUC where the dataset defines attributes (:mod:`track.attributes`): the mean of the sequences'
    AUCs over the sequences with that attribute (the AUC of their mean success curve, as the toolkits plot it);
  * for each sequence and tracker, the first frame after the initial one whose IoU drops below
    :data:`FAILURE_IOU` (frames without a valid ground-truth box are skipped), drawn as a thumbnail with the
    ground truth and the predicted box.
:mod:`track.report_html` turns the result into one self-contained HTML file (images as data URIs, no scripts or
styles from elsewhere).
"""

from __future__ import annotations

import dataclasses
import pathlib
import time

import numpy as np

from atom_jax.errors import InputError
from track import attributes as attrs
from track import metrics, results, scoring

FAILURE_IOU = 0.1
THUMBNAIL_WIDTH = 320
# Tracker colours (RGB), matplotlib's cycle without its green: green is the ground truth's colour.
PALETTE = ((31, 119, 180), (255, 127, 14), (214, 39, 40), (148, 103, 189), (140, 86, 75), (227, 119, 194),
           (23, 190, 207), (188, 189, 34), (127, 127, 127))
GT_COLOR = (0, 220, 0)


@dataclasses.dataclass(frozen=True)
class Failure:
    tracker: str
    frame: int            # 0-based index into the sequence
    iou: float
    thumbnail_jpeg: bytes  # frame with ground truth and predicted box drawn, JPEG


@dataclasses.dataclass(frozen=True)
class Report:
    dataset: str
    root: str
    trackers: dict[str, str]                   # display name -> results folder
    summaries: dict[str, dict]                 # display name -> score_results summary
    sequences: list[str]                       # sequences with results of any tracker (all: every tracker), in order
    frames: dict[str, int]                     # sequence -> number of frames
    frame_iou: dict[str, dict[str, np.ndarray]]  # tracker -> its sequences -> per-frame IoU (-1: not valid)
    attributes: tuple | None                   # ((abbreviation, name), ...) of the benchmark, or None
    sequence_attributes: dict[str, set]        # sequence -> its attribute abbreviations
    attribute_auc: dict[str, dict[str, float]]  # abbreviation -> tracker -> AUC over its sequences
    attribute_counts: dict[str, dict[str, int]]  # abbreviation -> tracker -> number of its sequences
    failures: dict[str, list[Failure]]         # sequence -> first failure of each tracker that fails
    colors: dict[str, tuple]                   # tracker -> RGB


def first_failure(iou: np.ndarray, threshold: float = FAILURE_IOU) -> int | None:
    """Index of the first frame after the initial one with a valid ground truth and IoU below ``threshold``."""
    bad = np.flatnonzero((iou[1:] >= 0) & (iou[1:] < threshold))
    return int(bad[0]) + 1 if len(bad) else None


def attribute_scores(per_sequence: dict[str, dict[str, float]], seq_attributes: dict[str, set], attributes,
                     names) -> tuple[dict[str, float], dict[str, int]]:
    """AUC per attribute: mean of the per-sequence AUCs over the sequences in ``names`` having it."""
    auc, counts = {}, {}
    for abbr, _ in attributes:
        with_it = [n for n in names if abbr in seq_attributes.get(n, ())]
        counts[abbr] = len(with_it)
        if with_it:
            auc[abbr] = float(np.mean([per_sequence[n]["AUC"] for n in with_it]))
    return auc, counts


def _draw_boxes(image_bgr, boxes, offset_xy, scale) -> None:
    import cv2

    for box, rgb in boxes:
        box = np.asarray(box, dtype=np.float64)
        if not np.all(np.isfinite(box)) or box[2] <= 0 or box[3] <= 0:
            continue
        x0, y0 = (box[:2] - offset_xy) * scale
        x1, y1 = (box[:2] + box[2:] - offset_xy) * scale
        cv2.rectangle(image_bgr, (int(round(x0)), int(round(y0))), (int(round(x1)), int(round(y1))),
                      tuple(int(c) for c in rgb[::-1]), 2)


def draw_failure(image_rgb: np.ndarray, gt_xywh, pred_xywh, color, width: int = THUMBNAIL_WIDTH) -> bytes:
    """A JPEG thumbnail ``width`` pixels wide of the frame with the ground truth (green) and prediction drawn.
    When a square of 4x the extent of both boxes fits twice into the frame, that square is put beside it, as high
    as the thumbnail and with the boxes drawn, so that small targets can be seen."""
    import cv2

    h, w = image_rgb.shape[:2]
    scale = width / w
    thumb = cv2.resize(image_rgb, (width, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    thumb = np.ascontiguousarray(thumb[..., ::-1])  # OpenCV draws and encodes BGR
    boxes = ((gt_xywh, GT_COLOR), (pred_xywh, color))
    _draw_boxes(thumb, boxes, np.zeros(2), scale)
    finite = [np.asarray(b, dtype=np.float64) for b, _ in boxes if np.all(np.isfinite(b)) and b[2] > 0 and b[3] > 0]
    if finite:
        lo = np.min([b[:2] for b in finite], axis=0)
        hi = np.max([b[:2] + b[2:] for b in finite], axis=0)
        center, side = (lo + hi) / 2, max(float(np.max(hi - lo)) * 4, 24.0)
        if side <= min(w, h) / 2:
            x0, y0 = np.clip(center - side / 2, 0, None).astype(int)
            x1, y1 = min(int(x0 + side), w), min(int(y0 + side), h)
            crop = np.ascontiguousarray(image_rgb[y0:y1, x0:x1, ::-1])
            if crop.size:
                zoom = thumb.shape[0] / crop.shape[0]
                crop = cv2.resize(crop, (max(1, round(crop.shape[1] * zoom)), thumb.shape[0]),
                                  interpolation=cv2.INTER_LINEAR)
                _draw_boxes(crop, boxes, np.array([x0, y0], dtype=np.float64), zoom)
                gap = np.full((thumb.shape[0], 4, 3), 255, np.uint8)
                thumb = np.concatenate([thumb, gap, crop], axis=1)
    ok, data = cv2.imencode(".jpg", thumb, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise InputError("could not encode a failure thumbnail")
    return data.tobytes()


def build_report(sequences, folders: dict[str, pathlib.Path], dataset: str, root, skip_missing: bool = False,
                 attributes_dir=None, thumbnails: bool = True) -> Report:
    """Score the results folders ``folders`` (display name -> folder) on ``sequences`` and collect the report."""
    if not folders:
        raise InputError("no results folders to report on")
    seqs = scoring.scorable(sequences)
    summaries = {name: scoring.score_results(seqs, path, skip_missing) for name, path in folders.items()}
    # Without skip_missing every tracker has every sequence; with it, the page shows the union and marks gaps.
    names = [s.name for s in seqs if any(s.name in summ["per_sequence"] for summ in summaries.values())]
    by_name = {s.name: s for s in seqs}
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(folders)}

    frame_iou: dict[str, dict[str, np.ndarray]] = {}
    predictions: dict[str, dict[str, np.ndarray]] = {}  # first run, cleaned up as the metrics clean it up
    for tracker, folder in folders.items():
        run = results.run_folders(folder)[0]
        frame_iou[tracker], predictions[tracker] = {}, {}
        for n in summaries[tracker]["per_sequence"]:
            seq, source = by_name[n], str(results.boxes_path(run, n))
            pred = metrics.prepare_prediction(results.read_boxes(run, n), seq.ground_truth_xywh, source)
            errors = metrics.frame_errors(pred, seq.ground_truth_xywh, seq.dataset, seq.target_visible, source)
            frame_iou[tracker][n], predictions[tracker][n] = errors.iou, pred

    attributes, seq_attributes = attrs.sequence_attributes(dataset, root, names, attributes_dir)
    attribute_auc: dict[str, dict[str, float]] = {}
    counts: dict[str, dict[str, int]] = {}
    if attributes:
        for tracker, summ in summaries.items():
            scored = [n for n in names if n in summ["per_sequence"]]
            auc, tracker_counts = attribute_scores(summ["per_sequence"], seq_attributes, attributes, scored)
            for abbr, value in auc.items():
                attribute_auc.setdefault(abbr, {})[tracker] = value
            for abbr, count in tracker_counts.items():
                counts.setdefault(abbr, {})[tracker] = count

    failures: dict[str, list[Failure]] = {}
    if thumbnails:
        for n in names:
            seq = by_name[n]
            for tracker in folders:
                index = first_failure(frame_iou[tracker][n]) if n in frame_iou[tracker] else None
                if index is None:
                    continue
                jpeg = draw_failure(seq.frame(index), seq.ground_truth_xywh[index], predictions[tracker][n][index],
                                    colors[tracker])
                failures.setdefault(n, []).append(
                    Failure(tracker, index, float(frame_iou[tracker][n][index]), jpeg))

    return Report(dataset, str(root), {k: str(v) for k, v in folders.items()}, summaries, names,
                  {n: len(by_name[n].ground_truth_xywh) for n in names}, frame_iou, attributes, seq_attributes,
                  attribute_auc, counts, failures, colors)


def write_report(sequences, folders: dict[str, pathlib.Path], dataset: str, root, out, **kwargs) -> dict:
    """:func:`build_report` + :func:`track.report_html.render`, written atomically to ``out``; returns
    ``{"path", "bytes", "seconds", "sequences", "trackers"}``."""
    from track import report_html
    from track.files import atomic_write_text

    start = time.perf_counter()
    report = build_report(sequences, folders, dataset, root, **kwargs)
    page = report_html.render(report)
    atomic_write_text(out, page)
    return {"path": str(out), "bytes": len(page.encode()), "seconds": time.perf_counter() - start,
            "sequences": len(report.sequences), "trackers": len(report.trackers)}
