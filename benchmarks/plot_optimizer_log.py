"""Plot a tracking run's online-optimizer log (``atom-jax track ... --optimizer-log F.jsonl``, or the
``<seq>_optimizer.jsonl`` files of ``atom-jax eval ... --optimizer-log``).

    python benchmarks/plot_optimizer_log.py F.jsonl [G.jsonl ...] [--out F.png]

Four panels per log: the first frame's objective per outer iteration; the filter objective before and after
each update (regular and hard-negative updates marked apart); each update's relative decrease; the CG residual
norm per CG iteration of every update (colour: frame). Prints a one-line summary per log.
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]


def summary(records: list[dict]) -> dict:
    """Counts of updates by kind and the mean relative decrease of the objective per update."""
    ups = [r for r in records if r.get("update")]
    rel = [1 - r["loss_after"] / r["loss_before"] for r in ups if r.get("loss_before") and r.get("loss_after") is not None]
    return {"frames": len(records), "regular": sum(r["update"] == 1 for r in ups),
            "hard_negative": sum(r["update"] == 2 for r in ups),
            "mean_relative_decrease": float(np.mean(rel)) if rel else None,
            "increases": int(sum(d < 0 for d in rel))}


def plot(records: list[dict], title: str, axes) -> None:
    first = records[0].get("optimizer") if records and records[0]["frame"] == 0 else None
    ax = axes[0]
    if first:
        bp = np.concatenate([[0], np.cumsum([b if b is not None else np.nan for b in first["backprops"]])])
        ax.semilogy(bp, first["loss"], "o-", ms=3)
    ax.set_title(f"{title}: first frame", fontsize=8)
    ax.set_xlabel("backprop-equivalents", fontsize=8)
    ax.set_ylabel("objective", fontsize=8)

    ups = [r for r in records if r.get("update")]
    ax = axes[1]
    for kind, marker, label in ((1, "o", "regular"), (2, "^", "hard negative")):
        sel = [r for r in ups if r["update"] == kind]
        if sel:
            f = [r["frame"] for r in sel]
            ax.plot(f, [r["loss_before"] for r in sel], marker, mfc="none", label=f"{label}: before")
            ax.plot(f, [r["loss_after"] for r in sel], marker, label=f"{label}: after")
    ax.set_title("filter objective over the memory", fontsize=8)
    ax.set_xlabel("frame", fontsize=8)
    ax.legend(fontsize=6)

    ax = axes[2]
    if ups:
        ax.bar([r["frame"] for r in ups], [100 * (1 - r["loss_after"] / r["loss_before"]) for r in ups], width=3,
               color=["C0" if r["update"] == 1 else "C3" for r in ups])
    ax.set_title("decrease per update (%; red: hard negative)", fontsize=8)
    ax.set_xlabel("frame", fontsize=8)

    ax = axes[3]
    cg = [r for r in ups if r.get("cg_residual_norm")]
    if cg:
        import matplotlib

        cmap = matplotlib.colormaps["viridis"]
        last = max(r["frame"] for r in cg)
        for r in cg:
            ax.semilogy(np.arange(1, len(r["cg_residual_norm"]) + 1), r["cg_residual_norm"], color=cmap(r["frame"] / last),
                        lw=1)
    else:
        ax.text(0.5, 0.5, "no CG in this optimizer", ha="center", transform=ax.transAxes, fontsize=8)
    ax.set_title("CG residual norm per update (colour: frame)", fontsize=8)
    ax.set_xlabel("CG iteration", fontsize=8)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("logs", nargs="+", help="optimizer logs (.jsonl)")
    ap.add_argument("--out", default=None, help="PNG to write (default: the first log's name with .png)")
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.logs), 4, figsize=(15, 3.2 * len(args.logs)), squeeze=False)
    for row, path in zip(axes, args.logs):
        records = read_log(path)
        print(f"{path}: {json.dumps(summary(records))}")
        plot(records, pathlib.Path(path).stem, row)
    fig.tight_layout()
    out = pathlib.Path(args.out or pathlib.Path(args.logs[0]).with_suffix(".png"))
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
