"""One-pass evaluation (OPE) metrics as pytracking's ``extract_results`` and the OTB toolkit compute them.

Per frame (:func:`frame_errors`), boxes ``x, y, w, h``:
  * IoU of the two boxes (pixel-inclusive extent ``x .. x + w - 1``, which gives the same number as the
    continuous extent ``[x, x + w]``);
  * center error in pixels, centers ``x + (w - 1) / 2``;
  * normalized center error: both centers divided by the ground-truth size before the distance (TrackingNet).
A frame is *valid* when all four ground-truth values are > 0 (pytracking's test; NaN rows fail it) and the
target is visible (when the dataset says). Invalid frames get IoU -1 (never counts as a success), center error
+inf (never precise; UAV123: -1, i.e. always precise, as pytracking does), normalized error -1 (always precise;
LaSOT: +inf for invisible frames). The predicted box of frame 0 is replaced by the ground truth, a predicted box
with zero width or height by the previous prediction, and a prediction longer or shorter than the annotation is
cut or padded with zero boxes -- all as in pytracking.

Per sequence (:func:`sequence_curves`): the success curve (fraction of frames with IoU > t, t = 0, 0.05, ..., 1),
the precision curve (error <= t px, t = 0..50) and the normalized precision curve (t = 0, 0.01, ..., 0.5), each
over all frames of the sequence (invalid frames included in the count, pytracking's default), and the average
overlap over valid frames. Overall (:func:`summarize`): the mean of the per-sequence curves; AUC = mean of the
success curve, OP50/OP75 = success at 0.5/0.75, precision = precision curve at 20 px, normalized precision as
pytracking prints it (curve at 0.2) and as TrackingNet ranks (mean of the curve over 0..0.5). All in percent.

The thresholds are exact (``linspace``), as the OTB toolkit and got10k use; pytracking's ``arange`` gives
0.7500000000000001 for the 16th, which can only differ for an IoU in between.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from atom_jax.errors import InputError

OVERLAP_THRESHOLDS = np.linspace(0.0, 1.0, 21)
CENTER_THRESHOLDS = np.arange(51, dtype=np.float64)
NORM_CENTER_THRESHOLDS = np.arange(51, dtype=np.float64) / 100.0


class FrameErrors(NamedTuple):
    iou: np.ndarray               # (N,), -1 on invalid frames
    center_error: np.ndarray      # (N,) pixels
    norm_center_error: np.ndarray  # (N,)
    valid: np.ndarray             # (N,) bool


class SequenceCurves(NamedTuple):
    success: np.ndarray         # (21,) fractions in 0..1
    precision: np.ndarray       # (51,)
    norm_precision: np.ndarray  # (51,)
    average_overlap: float      # mean IoU over valid frames (NaN if none)


def prepare_prediction(pred_xywh, gt_xywh, source: str = "prediction") -> np.ndarray:
    """pytracking's clean-up of a predicted track before scoring (see module docstring)."""
    pred = np.array(pred_xywh, dtype=np.float64).reshape(-1, 4)
    gt = np.asarray(gt_xywh, dtype=np.float64)
    if np.isnan(pred).any() or (pred[:, 2:] < 0).any():
        raise InputError(f"{source}: boxes with NaN or negative size")
    for i in range(1, len(pred)):
        if (pred[i, 2:] == 0).any() and not np.isnan(gt[min(i, len(gt) - 1)]).any():
            pred[i] = pred[i - 1]
    if len(pred) > len(gt):
        pred = pred[: len(gt)]
    elif len(pred) < len(gt):
        pred = np.concatenate([pred, np.zeros((len(gt) - len(pred), 4))])
    pred[0] = gt[0]
    return pred


def iou_xywh(a, b) -> np.ndarray:
    """IoU of row-matched boxes; NaN where either box is NaN, 0 where the union is empty. Clipped to [0, 1]:
    with fractional boxes, ``(x + w) - x`` may round above ``w`` (the got10k toolkit clips too)."""
    tl = np.maximum(a[:, :2], b[:, :2])
    br = np.minimum(a[:, :2] + a[:, 2:], b[:, :2] + b[:, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=1)
    union = np.prod(a[:, 2:], axis=1) + np.prod(b[:, 2:], axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, inter / np.where(union > 0, union, 1.0), np.where(np.isnan(union), np.nan, 0.0))
    return np.minimum(iou, 1.0)


def center_error(a, b, normalize_by=None) -> np.ndarray:
    ca = a[:, :2] + 0.5 * (a[:, 2:] - 1.0)
    cb = b[:, :2] + 0.5 * (b[:, 2:] - 1.0)
    if normalize_by is not None:
        with np.errstate(invalid="ignore", divide="ignore"):
            ca, cb = ca / normalize_by, cb / normalize_by
    return np.sqrt(((ca - cb) ** 2).sum(axis=1))


def frame_errors(pred_xywh, gt_xywh, dataset: str = "otb", target_visible=None,
                 source: str = "prediction") -> FrameErrors:
    gt = np.asarray(gt_xywh, dtype=np.float64)
    pred = prepare_prediction(pred_xywh, gt, source)
    with np.errstate(invalid="ignore"):
        valid = (gt > 0).sum(axis=1) == 4
    if target_visible is not None:
        target_visible = np.asarray(target_visible, dtype=bool)
        valid &= target_visible
    iou = iou_xywh(pred, gt)
    err = center_error(pred, gt)
    norm_err = center_error(pred, gt, normalize_by=gt[:, 2:])
    iou[~valid] = -1.0
    err[~valid] = -1.0 if dataset == "uav" else np.inf
    norm_err[~valid] = -1.0
    if dataset == "lasot" and target_visible is not None:
        err[~target_visible] = np.inf
        norm_err[~target_visible] = np.inf
    return FrameErrors(iou, err, norm_err, valid)


def sequence_curves(errors: FrameErrors, exclude_invalid_frames: bool = False) -> SequenceCurves:
    n = int(errors.valid.sum()) if exclude_invalid_frames else len(errors.valid)
    if n <= 0:
        raise InputError("sequence has no frames to score")
    success = (errors.iou[:, None] > OVERLAP_THRESHOLDS[None]).sum(0) / n
    precision = (errors.center_error[:, None] <= CENTER_THRESHOLDS[None]).sum(0) / n
    norm_precision = (errors.norm_center_error[:, None] <= NORM_CENTER_THRESHOLDS[None]).sum(0) / n
    ao = float(errors.iou[errors.valid].mean()) if errors.valid.any() else float("nan")
    return SequenceCurves(success, precision, norm_precision, ao)


def score_sequence(pred_xywh, sequence, source: str = "prediction") -> SequenceCurves:
    """Curves of one predicted track against a :class:`atom_jax.data.sequence.Sequence`."""
    errors = frame_errors(pred_xywh, sequence.ground_truth_xywh, sequence.dataset, sequence.target_visible, source)
    return sequence_curves(errors)


def mean_curves(curves: list[SequenceCurves]) -> SequenceCurves:
    """Element-wise mean (over runs of one sequence, or over sequences)."""
    return SequenceCurves(
        np.mean([c.success for c in curves], axis=0),
        np.mean([c.precision for c in curves], axis=0),
        np.mean([c.norm_precision for c in curves], axis=0),
        float(np.nanmean([c.average_overlap for c in curves])) if curves else float("nan"),
    )


def scalars(curves: SequenceCurves) -> dict[str, float]:
    """The numbers of a curve set, in percent."""
    return {
        "AUC": 100.0 * float(curves.success.mean()),
        "OP50": 100.0 * float(curves.success[10]),
        "OP75": 100.0 * float(curves.success[15]),
        "Precision": 100.0 * float(curves.precision[20]),
        "NormPrecision": 100.0 * float(curves.norm_precision[20]),
        "NormPrecisionAUC": 100.0 * float(curves.norm_precision.mean()),
        "AO": 100.0 * curves.average_overlap,
    }


def summarize(per_sequence: dict[str, SequenceCurves]) -> dict:
    """Overall and per-sequence numbers plus the mean curves (as lists), ready for JSON."""
    overall = mean_curves(list(per_sequence.values()))
    return {
        "overall": scalars(overall),
        "curves": {
            "overlap_thresholds": OVERLAP_THRESHOLDS.tolist(), "success": (100 * overall.success).tolist(),
            "center_thresholds": CENTER_THRESHOLDS.tolist(), "precision": (100 * overall.precision).tolist(),
            "norm_center_thresholds": NORM_CENTER_THRESHOLDS.tolist(),
            "norm_precision": (100 * overall.norm_precision).tolist(),
        },
        "per_sequence": {name: scalars(c) for name, c in per_sequence.items()},
        "num_sequences": len(per_sequence),
    }
