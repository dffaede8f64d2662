"""``atom-jax eval/score --protocol reset``: VOT's reset-based protocol over a dataset, resumable.

Results go where the VOT toolkit puts its baseline trajectories: ``<results>/<seq>/<seq>_001.txt`` (one file
per repetition ``--runs``; seeds ``seed + k``), each written atomically; existing files are skipped.
"""

from __future__ import annotations

import pathlib

from atom_jax.errors import InputError
from track import baselines, vot_protocol
from atom_jax.data.files import read_image_rgb
from track.files import atomic_write_text


def _regions(seq):
    return seq.regions if seq.regions is not None else seq.ground_truth_xywh


def trajectory_path(results_dir, seq_name: str, repetition: int) -> pathlib.Path:
    return pathlib.Path(results_dir) / seq_name / f"{seq_name}_{repetition:03d}.txt"


def evaluate_reset(sequences, tracker: str, results_dir, *, weights=None, overrides=None, runs: int = 1,
                   seed: int = 0, skip_initialize: int = 5, progress: bool = True,
                   overlap: str = "raster") -> dict[str, int]:
    from tqdm import tqdm

    if any(s.video for s in sequences):
        raise InputError("the reset-based protocol needs image-file sequences, not a video")
    done = skipped = 0
    jobs = [(s, k) for k in range(1, runs + 1) for s in sequences]
    for seq, k in tqdm(jobs, desc="reset-based", disable=not progress, unit="seq"):
        path = trajectory_path(results_dir, seq.name, k)
        if path.is_file():
            skipped += 1
            continue
        kinds, boxes, _ = vot_protocol.run_supervised(
            lambda: baselines.make_tracker(tracker, weights, overrides, seed + k - 1), seq.frames, _regions(seq),
            skip_initialize=skip_initialize, overlap=overlap)
        atomic_write_text(path, vot_protocol.format_trajectory(kinds, boxes))
        done += 1
    return {"finished": done, "skipped": skipped}


def score_reset(sequences, results_dir, eao_range=(100, 356), overlap: str = "raster") -> dict:
    runs = {}
    for seq in sequences:
        files = sorted((pathlib.Path(results_dir) / seq.name).glob(f"{seq.name}_[0-9][0-9][0-9].txt"))
        if not files:
            raise InputError(f"{pathlib.Path(results_dir) / seq.name}: no reset-based trajectories")
        reps = [vot_protocol.parse_trajectory(f.read_text())[:2] for f in files]
        for f, (kinds, _) in zip(files, reps):
            if len(kinds) != len(seq):
                raise InputError(f"{f}: {len(kinds)} lines for {len(seq)} frames")
        image = read_image_rgb(seq.frames[0])
        runs[seq.name] = (_regions(seq), (image.shape[1], image.shape[0]), reps)
    return vot_protocol.summarize(runs, eao_range=eao_range, overlap=overlap)


def parse_range(text: str) -> tuple[int, int]:
    try:
        low, high = (int(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--eao-range expects LOW,HIGH integers, got {text!r}") from None
    return low, high


def format_summary(summary: dict) -> str:
    lines = [f"{'sequence':<20}{'accuracy':>10}{'failures':>10}"]
    for name, s in summary["per_sequence"].items():
        lines.append(f"{name:<20}{s['accuracy']:>10.3f}{s['failures']:>10.2f}")
    lines.append(f"{'overall':<20}{summary['accuracy']:>10.3f}{summary['robustness']:>10.3f}"
                 f"   EAO {summary['eao']:.3f}")
    return "\n".join(lines)
