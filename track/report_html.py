"""One self-contained HTML page from a :class:`track.report.Report`.

Everything is inline: the plots (matplotlib, PNG) and thumbnails (JPEG) as ``data:`` URIs, the per-frame IoU
strips as one-pixel-high PNGs scaled by the browser, a short style sheet and a short script that sorts the
tables when a column header is clicked. Nothing is fetched, so the file opens from disk without a network.
The page is ASCII (other characters as HTML references), whatever the platform's default encoding.
"""

from __future__ import annotations

import base64
import datetime
import html
import io

import numpy as np

from track import plots
from track.scoring import SCORED_KEYS

OVERALL_KEYS = SCORED_KEYS  # AUC, OP50, OP75, Precision, NormPrecision, NormPrecisionAUC, AO
PLOT_KINDS = ("success", "precision", "norm_precision")
STRIP_WIDTH_PX = 240
STRIP_MAX_PIXELS = STRIP_WIDTH_PX  # longer sequences are shown as runs of frames, each by its lowest IoU

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1400px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f2f2f2; } td.name, th.name { text-align: left; }
table.sortable th { cursor: pointer; } table.sortable th:hover { background: #e0e0e0; }
.plots img { width: 420px; margin-right: 8px; }
img.strip { width: %(strip)dpx; height: 12px; image-rendering: pixelated; vertical-align: middle; }
.up1 { background: #dff5df; } .up5 { background: #a9e2a9; } .down1 { background: #fbe0e0; }
.down5 { background: #f2a7a7; }
.swatch { display: inline-block; width: 0.8em; height: 0.8em; margin-right: 4px; vertical-align: middle; }
.failures figure { display: inline-block; margin: 4px 10px 8px 0; font-size: 0.85em; }
.failures img { display: block; }
.note { color: #555; font-size: 0.9em; }
""" % {"strip": STRIP_WIDTH_PX}

# Click a header: sort the rows by that column (numbers by data-v, else text); click again: reverse.
_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('thead th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var dir = th.getAttribute('data-dir') === 'desc' ? 1 : -1;
      table.querySelectorAll('thead th').forEach(function (h) { h.removeAttribute('data-dir'); });
      th.setAttribute('data-dir', dir === 1 ? 'asc' : 'desc');
      function key(row) {
        var cell = row.cells[col];
        var v = cell.getAttribute('data-v');
        return v === null ? cell.textContent : parseFloat(v);
      }
      rows.sort(function (a, b) {
        var ka = key(a), kb = key(b);
        if (typeof ka === 'number' && typeof kb === 'number') {
          if (isNaN(ka)) return 1; if (isNaN(kb)) return -1;
          return dir * (ka - kb);
        }
        return dir * String(ka).localeCompare(String(kb));
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _hex(rgb) -> str:
    return "#%02x%02x%02x" % tuple(int(c) for c in rgb)


def _plot_png(summaries, kind: str, colors) -> bytes:
    import matplotlib.pyplot as plt

    fig = plots.curve_figure(summaries, kind, colors={n: _hex(c) for n, c in colors.items()})
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def strip_bins(iou: np.ndarray, max_width: int = STRIP_MAX_PIXELS) -> np.ndarray:
    """Per-frame IoU shrunk to at most ``max_width`` values: each the lowest valid IoU of its run of frames
    (-1 when none is valid), so that a short failure in a long sequence still shows."""
    iou = np.asarray(iou, dtype=np.float64)
    if len(iou) <= max_width:
        return iou
    edges = np.linspace(0, len(iou), max_width + 1).round().astype(int)
    out = np.empty(max_width)
    for k in range(max_width):
        chunk = iou[edges[k]: edges[k + 1]]
        valid = chunk[chunk >= 0]
        out[k] = valid.min() if len(valid) else -1.0
    return out


def iou_strip_png(iou: np.ndarray) -> bytes:
    """A 1-pixel-high PNG, one pixel per frame (per run of frames in long sequences, :func:`strip_bins`): grey
    without valid ground truth, red below IoU 0.1, then a red-yellow-green ramp up to IoU 1."""
    import cv2

    iou = strip_bins(iou)
    t = np.clip(iou, 0.0, 1.0)
    red = np.where(t < 0.5, 1.0, 2.0 - 2.0 * t)
    green = np.where(t < 0.5, 2.0 * t, 1.0)
    rgb = np.stack([red, green, np.zeros_like(t)], axis=-1) * 220.0
    rgb[(iou >= 0) & (iou < 0.1)] = (200, 0, 0)
    rgb[iou < 0] = (170, 170, 170)
    bgr = rgb[None, :, ::-1].astype(np.uint8)
    ok, data = cv2.imencode(".png", np.ascontiguousarray(bgr))
    return data.tobytes()


def _num(value, digits: int = 1) -> str:
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def _value_cell(value) -> str:
    if value is None:
        return '<td data-v="NaN">-</td>'
    return f'<td data-v="{value:.4f}">{value:.1f}</td>'


def _diff_cell(value, reference) -> str:
    if value is None or reference is None:
        return '<td data-v="NaN">-</td>'
    diff = value - reference
    cls = ""
    if diff >= 5:
        cls = "up5"
    elif diff >= 1:
        cls = "up1"
    elif diff <= -5:
        cls = "down5"
    elif diff <= -1:
        cls = "down1"
    return f'<td class="{cls}" data-v="{diff:.4f}">{diff:+.1f}</td>'


def _tracker_label(report, name) -> str:
    return f'<span class="swatch" style="background:{_hex(report.colors[name])}"></span>{_e(name)}'


def _overall(report) -> str:
    head = "".join(f"<th>{k}</th>" for k in OVERALL_KEYS)
    rows = []
    for name, summ in report.summaries.items():
        runs = len(summ["runs"])
        cells = []
        for k in OVERALL_KEYS:
            value = summ["overall"][k]
            spread = f" &plusmn; {summ['std_over_runs'][k]:.1f}" if runs > 1 else ""
            cells.append(f'<td data-v="{value:.4f}">{_num(value)}{spread}</td>')
        nseq = summ["num_sequences"]
        rows.append(f'<tr><td class="name">{_tracker_label(report, name)}</td>{"".join(cells)}'
                    f'<td data-v="{runs}">{runs}</td><td data-v="{nseq}">{nseq}</td>'
                    f'<td class="name">{_e(report.trackers[name])}</td></tr>')
    return (f'<table id="overall" class="sortable"><thead><tr><th class="name">tracker</th>{head}<th>runs</th>'
            f'<th>sequences</th><th class="name">results</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<p class="note">Percent. AUC of the success plot, OP at IoU 0.5 / 0.75, precision at 20 px, normalized '
            'precision at 0.2 and its area over 0..0.5, average overlap. With several runs: runs merged as '
            'pytracking merges them, &plusmn; the standard deviation of the per-run numbers.</p>')


def _common(report) -> str:
    """When trackers were scored on different sequences (``--skip-missing``): their numbers on the common ones
    (means of the per-sequence numbers, which is what the merged curves give)."""
    sets = [set(s["per_sequence"]) for s in report.summaries.values()]
    common = [n for n in report.sequences if all(n in s for s in sets)]
    if all(s == sets[0] for s in sets):
        return ""
    if not common:
        return '<p class="note">The trackers were scored on different sequences and have none in common.</p>'
    head = "".join(f"<th>{k}</th>" for k in OVERALL_KEYS)
    rows = []
    for name, summ in report.summaries.items():
        cells = "".join(_value_cell(float(np.nanmean([summ["per_sequence"][n][k] for n in common])))
                        for k in OVERALL_KEYS)
        rows.append(f'<tr><td class="name">{_tracker_label(report, name)}</td>{cells}</tr>')
    return (f'<p class="note">The trackers were scored on different sequences; on the {len(common)} they all '
            f'have ({_e(", ".join(common))}):</p><table id="overall-common" class="sortable"><thead><tr>'
            f'<th class="name">tracker</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _plots(report) -> str:
    imgs = "".join(f'<img class="plot" id="plot-{kind}" alt="{kind} plot" '
                   f'src="{_data_uri(_plot_png(report.summaries, kind, report.colors), "image/png")}">'
                   for kind in PLOT_KINDS)
    return f'<div class="plots">{imgs}</div>'


def _attributes(report) -> str:
    if not report.attributes:
        return '<p class="note">This dataset defines no attributes for these sequences.</p>'
    trackers = list(report.summaries)
    first = trackers[0]
    head = "".join(f"<th>{_e(t)}</th>" + (f"<th>&Delta; {_e(first)}</th>" if i else "")
                   for i, t in enumerate(trackers))
    rows = []
    for abbr, long_name in report.attributes:
        if abbr not in report.attribute_auc:
            continue
        n = max(report.attribute_counts[abbr].values())
        values = report.attribute_auc[abbr]
        cells = []
        for i, t in enumerate(trackers):
            cells.append(_value_cell(values.get(t)))
            if i:
                cells.append(_diff_cell(values.get(t), values.get(first)))
        rows.append(f'<tr><td class="name">{_e(abbr)}</td><td class="name">{_e(long_name)}</td>'
                    f'<td data-v="{n}">{n}</td>{"".join(cells)}</tr>')
    missing = [a for a, _ in report.attributes if a not in report.attribute_auc]
    note = (f'<p class="note">AUC over the sequences with each attribute ({len(report.sequence_attributes)} of '
            f'{len(report.sequences)} sequences have attribute information). No sequence here has: '
            f'{_e(", ".join(missing)) or "-"}.</p>')
    return (f'<table id="attributes" class="sortable"><thead><tr><th class="name">attribute</th>'
            f'<th class="name">name</th><th>sequences</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
            f'</table>{note}')


def _per_sequence(report) -> str:
    trackers = list(report.summaries)
    first = trackers[0]
    has_attr = bool(report.attributes)
    head = "".join(f"<th>AUC {_e(t)}</th>" + (f"<th>&Delta; {_e(first)}</th>" if i else "")
                   for i, t in enumerate(trackers))
    strips = "".join(f'<th class="name">IoU per frame: {_e(t)}</th>' for t in trackers)
    rows = []
    for n in report.sequences:
        cells = []
        auc = {t: report.summaries[t]["per_sequence"][n]["AUC"] for t in trackers
               if n in report.summaries[t]["per_sequence"]}
        for i, t in enumerate(trackers):
            cells.append(_value_cell(auc.get(t)))
            if i:
                cells.append(_diff_cell(auc.get(t), auc.get(first)))
        strip_cells = []
        for t in trackers:
            if n not in report.frame_iou[t]:
                strip_cells.append('<td class="name" data-v="NaN">no results</td>')
                continue
            iou = report.frame_iou[t][n]
            valid = iou[iou >= 0]
            mean = float(valid.mean()) if len(valid) else float("nan")
            strip_cells.append(f'<td class="name" data-v="{mean:.4f}"><img class="strip" alt="IoU {_e(t)}" '
                               f'title="{_e(t)}: mean IoU {_num(mean, 2)}" '
                               f'src="{_data_uri(iou_strip_png(iou), "image/png")}"></td>')
        attr = (f'<td class="name">{_e(" ".join(sorted(report.sequence_attributes.get(n, ()))))}</td>'
                if has_attr else "")
        rows.append(f'<tr><td class="name"><a href="#seq-{_e(n)}">{_e(n)}</a></td>'
                    f'<td data-v="{report.frames[n]}">{report.frames[n]}</td>{attr}{"".join(cells)}'
                    f'{"".join(strip_cells)}</tr>')
    attr_head = '<th class="name">attributes</th>' if has_attr else ""
    return (f'<table id="per-sequence" class="sortable"><thead><tr><th class="name">sequence</th><th>frames</th>'
            f'{attr_head}{head}{strips}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
            '<p class="note">Click a column header to sort. &Delta;: difference to the first tracker (green: '
            'better by 1 or 5 points or more, red: worse). IoU strips (first run): one pixel per frame (in sequences '
            f'over {STRIP_MAX_PIXELS} frames, per run of frames: its lowest IoU), green = high, red = below 0.1, '
            'grey = no valid ground truth.</p>')


def _failures(report) -> str:
    parts = []
    for n in report.sequences:
        figures = []
        for f in report.failures.get(n, []):
            figures.append(f'<figure><img alt="{_e(f.tracker)} frame {f.frame + 1}" '
                           f'src="{_data_uri(f.thumbnail_jpeg, "image/jpeg")}"><figcaption>'
                           f'{_tracker_label(report, f.tracker)}: frame {f.frame + 1}, IoU {f.iou:.2f}'
                           f'</figcaption></figure>')
        body = "".join(figures) or '<p class="note">No tracker drops below IoU 0.1.</p>'
        parts.append(f'<div class="failures" id="seq-{_e(n)}"><h3>{_e(n)}</h3>{body}</div>')
    return ('<p class="note">For each sequence and tracker, the first frame whose IoU drops below 0.1 (first run; '
            'frame numbers from 1). Green: ground truth; the tracker\'s colour: its box.</p>' + "".join(parts))


def render(report, title: str | None = None) -> str:
    title = title or f"atom-jax evaluation: {report.dataset}, {len(report.sequences)} sequences"
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>{_STYLE}</style></head>
<body>
<h1>{_e(title)}</h1>
<p class="note">Dataset <b>{_e(report.dataset)}</b> at {_e(report.root)}; {len(report.sequences)} sequences scored;
trackers: {", ".join(_tracker_label(report, t) for t in report.summaries)}. Written by atom-jax report, {when}.</p>
<h2>Overall</h2>
{_overall(report)}
{_common(report)}
<h2>Success and precision plots</h2>
{_plots(report)}
<h2>Attributes</h2>
{_attributes(report)}
<h2>Per sequence</h2>
{_per_sequence(report)}
<h2>Failures</h2>
{_failures(report)}
<script>{_SCRIPT}</script>
</body></html>
"""
    return page.encode("ascii", "xmlcharrefreplace").decode("ascii")
