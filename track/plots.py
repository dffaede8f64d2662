"""Success and precision plots (as in the ATOM paper, Fig. 4): one curve per tracker, the score in the legend.

Input: summaries from :func:`track.scoring.score_results` keyed by display name. The success plot's legend
shows the AUC, the precision plot's the precision at 20 px, the normalized precision plot's the TrackingNet
area; trackers are listed best first. Each plot is written as PNG and PDF.
"""

from __future__ import annotations

import pathlib

_PLOTS = {
    "success": ("overlap_thresholds", "success", "AUC", "Overlap threshold", "Overlap precision [%]",
                (0, 1), "Success plot", "lower left"),
    "precision": ("center_thresholds", "precision", "Precision", "Location error threshold [pixels]",
                  "Distance precision [%]", (0, 50), "Precision plot", "lower right"),
    "norm_precision": ("norm_center_thresholds", "norm_precision", "NormPrecisionAUC", "Normalized location error",
                       "Distance precision [%]", (0, 0.5), "Normalized precision plot", "lower right"),
}


def curve_figure(summaries: dict[str, dict], kind: str, title_prefix: str = "", figsize=(5.5, 4.5), colors=None):
    """The matplotlib figure of one plot kind (``success``, ``precision``, ``norm_precision``); the caller closes it.
    ``colors``: tracker name -> matplotlib colour (default: ``C0, C1, ...`` in the order of ``summaries``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x_key, y_key, score_key, xlabel, ylabel, xlim, title, loc = _PLOTS[kind]
    order = sorted(summaries, key=lambda n: -summaries[n]["overall"][score_key])
    if colors is None:  # a tracker keeps its colour across plots
        colors = {name: f"C{i % 10}" for i, name in enumerate(summaries)}
    fig, ax = plt.subplots(figsize=figsize)
    for i, name in enumerate(order):
        s = summaries[name]
        ax.plot(s["curves"][x_key], s["curves"][y_key], linewidth=2, color=colors[name],
                linestyle="-" if i < 10 else "--", label=f"{name} [{s['overall'][score_key]:.1f}]")
    ax.set(xlabel=xlabel, ylabel=ylabel, xlim=xlim, ylim=(0, 100), title=f"{title_prefix}{title}")
    ax.grid(True, linestyle="-.")
    ax.legend(loc=loc, fancybox=False, edgecolor="black", framealpha=1.0)
    fig.tight_layout()
    return fig


def plot_curves(summaries: dict[str, dict], out_dir, kinds=("success", "precision"),
                title_prefix: str = "") -> list[pathlib.Path]:
    """Write ``<kind>_plot.png`` and ``<kind>_plot.pdf`` for each kind; returns the written paths."""
    import matplotlib.pyplot as plt

    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in kinds:
        fig = curve_figure(summaries, kind, title_prefix)
        for ext in ("png", "pdf"):
            path = out_dir / f"{kind}_plot.{ext}"
            fig.savefig(path, dpi=150 if ext == "png" else 300)
            written.append(path)
        plt.close(fig)
    return written
