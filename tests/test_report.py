"""``atom-jax report``: attribute tables and files, the report's numbers, the page, and the page in Chromium."""

from __future__ import annotations

import re

import numpy as np
import pytest

from atom_jax import cli
from atom_jax.data.registry import load_dataset
from track import attributes, metrics, report, report_html, scoring

# --- attributes -----------------------------------------------------------------------------------------------


def test_otb_table_has_the_published_attribute_counts():
    # Wu, Lim, Yang (TPAMI 2015), OTB-100: number of sequences per attribute.
    published = {"IV": 38, "SV": 64, "OCC": 49, "DEF": 44, "MB": 29, "FM": 39, "IPR": 51, "OPR": 63, "OV": 14,
                 "BC": 31, "LR": 9}
    table = attributes.otb_attributes()
    from atom_jax.data import tables

    assert set(table) == {e.split(":")[0] for e in tables.OTB}  # the 100 sequences of the reader
    counts = {a: sum(a in v for v in table.values()) for a, _ in attributes.OTB_ATTRIBUTES}
    assert counts == published
    assert table["Crossing"] == {"SV", "DEF", "BC"} and table["Football1"] == {"IPR", "OPR", "BC"}


def test_uav_and_lasot_attribute_files(tmp_path):
    att = tmp_path / "anno" / "UAV123" / "att"
    att.mkdir(parents=True)
    (att / "wakeboard10.txt").write_text("1,0,1,0,0,0,0,0,0,0,1,1\n")
    found = attributes.sequence_attributes("uav", tmp_path, ["uav_wakeboard10", "uav_bike1"])
    assert found[0] == attributes.UAV123_ATTRIBUTES and found[1] == {"uav_wakeboard10": {"SV", "LR", "CM", "SOB"}}
    lasot = tmp_path / "annos" / "att"
    lasot.mkdir(parents=True)
    (lasot / "airplane-1.txt").write_text("0,1,0,0,0,1,0,0,1,0,0,0,1,0\n")
    names, found = attributes.sequence_attributes("lasot", tmp_path, ["airplane-1"])
    assert names == attributes.LASOT_ATTRIBUTES and found == {"airplane-1": {"POC", "ROT", "SV", "LR"}}
    (lasot / "airplane-9.txt").write_text("0,1\n")
    with pytest.raises(Exception, match="airplane-9.txt"):
        attributes.sequence_attributes("lasot", tmp_path, ["airplane-9"])
    assert attributes.sequence_attributes("vot", tmp_path, ["x"]) == (None, {})


def test_first_failure_skips_the_initial_frame_and_invalid_frames():
    assert report.first_failure(np.array([0.0, 0.5, -1.0, 0.09, 0.0])) == 3
    assert report.first_failure(np.array([1.0, 0.1, 0.2])) is None


# --- a small dataset and results built here ---------------------------------------------------------------------

def _dataset(root, names=("Crossing", "Couple", "Unlisted"), frames=24, size=(96, 64)):
    import cv2

    rng = np.random.default_rng(0)
    for k, name in enumerate(names):
        folder = root / name / "img"
        folder.mkdir(parents=True)
        gt = np.array([[10 + 2 * i, 12 + i % 5, 20 + k, 16] for i in range(frames)], dtype=np.float64)
        for i in range(frames):
            cv2.imwrite(str(folder / f"{i + 1:04d}.jpg"), rng.integers(0, 255, (size[1], size[0], 3), np.uint8))
        np.savetxt(root / name / "groundtruth_rect.txt", gt, fmt="%d", delimiter=",")
    return load_dataset("generic", root)


def _results(base, sequences):
    """good: ground truth; drift: loses the target (Crossing: at frame index 10); pytracking: two runs, integer
    boxes."""
    good, drift, pyt = base / "good", base / "drift", base / "pyt"
    for seq in sequences:
        gt = seq.ground_truth_xywh
        good.mkdir(parents=True, exist_ok=True)
        np.savetxt(good / f"{seq.name}.txt", gt, fmt="%.2f", delimiter="\t")
        lost = gt.copy()
        lost[{"Couple": 14, "Crossing": 10}.get(seq.name, 6):, 0] += 60
        drift.mkdir(parents=True, exist_ok=True)
        np.savetxt(drift / f"{seq.name}.txt", lost, fmt="%.2f", delimiter="\t")
        for run in range(2):
            folder = pyt / f"default_{run:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            np.savetxt(folder / f"{seq.name}.txt", np.round(gt + [run * 3, 0, 0, 0]), fmt="%d", delimiter="\t")
    return {"good": good, "drift": drift, "pytracking": pyt}


def test_report_numbers_match_the_scores(tmp_path):
    seqs = _dataset(tmp_path / "data")
    folders = _results(tmp_path / "res", seqs)
    rep = report.build_report(seqs, folders, "generic", tmp_path / "data")
    assert rep.sequences == ["Couple", "Crossing", "Unlisted"]
    # OTB attributes by name for the generic layout; the unlisted sequence has none
    assert rep.sequence_attributes == {"Couple": {"OPR", "SV", "DEF", "FM", "BC"}, "Crossing": {"SV", "DEF", "BC"}}
    drift = scoring.score_results(seqs, folders["drift"])["per_sequence"]
    assert rep.attribute_auc["BC"]["drift"] == pytest.approx((drift["Couple"]["AUC"] + drift["Crossing"]["AUC"]) / 2)
    assert rep.attribute_auc["FM"]["drift"] == pytest.approx(drift["Couple"]["AUC"])
    assert rep.attribute_counts["BC"]["good"] == 2 and "LR" not in rep.attribute_auc
    # per-frame IoU as the metrics compute it, and the first failure at the drift
    iou = metrics.frame_errors(np.loadtxt(folders["drift"] / "Crossing.txt"), seqs[1].ground_truth_xywh).iou
    np.testing.assert_array_equal(rep.frame_iou["drift"]["Crossing"], iou)
    assert [(f.tracker, f.frame) for f in rep.failures["Crossing"]] == [("drift", 10)]
    assert rep.failures["Crossing"][0].thumbnail_jpeg[:2] == b"\xff\xd8"
    assert rep.summaries["pytracking"]["runs"] == ["default_000", "default_001"]


def _rows(page: str, table_id: str) -> int:
    table = page[page.index(f'<table id="{table_id}"'):]
    body = table[table.index("<tbody>"): table.index("</tbody>")]
    return body.count("<tr>")


def test_report_page_is_self_contained(tmp_path):
    seqs = _dataset(tmp_path / "data")
    folders = _results(tmp_path / "res", seqs)
    info = report.write_report(seqs, folders, "generic", tmp_path / "data", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="ascii")
    assert info["bytes"] == len(page) and info["sequences"] == 3 and info["trackers"] == 3
    assert _rows(page, "overall") == 3 and _rows(page, "per-sequence") == 3 and _rows(page, "attributes") == 5
    sources = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert sources and all(s.startswith(("data:image/", "#seq-")) for s in sources)
    assert "http://" not in page and "https://" not in page and "<link" not in page
    assert page.count('id="plot-') == 3 and page.count("data:image/jpeg") == 3  # drift fails on 3 sequences
    assert 'class="down5"' in page  # drift is far worse than the reference on every sequence
    assert "&plusmn;" in page  # pytracking's two runs give a spread


def test_report_with_missing_sequences_shows_the_gaps(tmp_path):
    seqs = _dataset(tmp_path / "data")
    folders = _results(tmp_path / "res", seqs)
    (folders["drift"] / "Couple.txt").unlink()
    with pytest.raises(Exception, match="Couple.txt"):
        report.build_report(seqs, folders, "generic", tmp_path / "data")
    rep = report.build_report(seqs, folders, "generic", tmp_path / "data", skip_missing=True)
    assert rep.sequences == ["Couple", "Crossing", "Unlisted"] and "Couple" not in rep.frame_iou["drift"]
    page = report_html.render(rep)
    assert "no results" in page and _rows(page, "per-sequence") == 3


def test_report_and_eval_report_commands(tmp_path, capsys):
    _dataset(tmp_path / "data", names=("Crossing", "Other"), frames=12)
    root = tmp_path / "data"
    seqs = load_dataset("generic", root)
    folders = _results(tmp_path / "res", seqs)
    out = tmp_path / "cmd.html"
    assert cli.main(["report", "--dataset", "generic", "--root", str(root), f"ref={folders['good']}",
                     str(folders["drift"]), "--out", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    page = out.read_text()
    assert ">ref</td>" in page and ">drift</td>" in page
    assert cli.main(["eval", "--dataset", "generic", "--root", str(root), "--tracker", "static",
                     "--results", str(tmp_path / "ev"), "--no-progress", "--report"]) == 0
    assert (tmp_path / "ev" / "report.html").is_file()
    assert _rows((tmp_path / "ev" / "report.html").read_text(), "per-sequence") == 2


def test_report_on_the_shared_sequences_is_small(sequences_dir, tmp_path):
    """5 real sequences x 3 trackers (ground truth, a static box, a pytracking-format folder): under 5 MB."""
    seqs = load_dataset("generic", sequences_dir)
    base = tmp_path / "res"
    folders = {"gt": base / "gt", "static": base / "static", "pytracking": base / "pyt" / "default_000"}
    for seq in seqs:
        gt = seq.ground_truth_xywh
        for name, boxes in (("gt", gt), ("static", np.repeat(gt[:1], len(gt), axis=0)),
                            ("pytracking", np.round(gt * [1, 1, 0.5, 0.5]))):
            folders[name].mkdir(parents=True, exist_ok=True)
            np.savetxt(folders[name] / f"{seq.name}.txt", boxes, fmt="%.2f", delimiter="\t")
    folders["pytracking"] = base / "pyt"
    info = report.write_report(seqs, folders, "generic", sequences_dir, tmp_path / "shared.html")
    assert info["sequences"] == 5 and info["bytes"] < 5e6
    rep = report.build_report(seqs, folders, "generic", sequences_dir, thumbnails=False)
    assert set(rep.sequence_attributes) == {"Couple", "Crossing", "Football1"}


# --- the page in a real browser ---------------------------------------------------------------------------------

def _browser():
    from tests import browser

    if browser.find_chromium() is None:
        if browser.running_in_ci():
            pytest.fail("Chromium is required in CI (.ci/run installs it: apt-get install -y chromium)")
        pytest.skip("Chromium not installed (apt-get install -y chromium); the browser test needs it")
    try:
        import websocket  # noqa: F401
    except ImportError:
        if browser.running_in_ci():
            pytest.fail("websocket-client is required in CI (pip install -e '.[test]')")
        pytest.skip("websocket-client not installed (pip install -e '.[test]')")
    return browser


def _nonblank(png_region: np.ndarray) -> bool:
    """More than a blank area: a spread of intensities and a good share of non-white pixels."""
    gray = png_region.mean(axis=2)
    return gray.std() > 10 and (gray < 200).mean() > 0.02


def test_report_renders_in_chromium(tmp_path):
    browser = _browser()
    import cv2

    seqs = _dataset(tmp_path / "data")
    folders = _results(tmp_path / "res", seqs)
    out = tmp_path / "page" / "report.html"
    report.write_report(seqs, folders, "generic", tmp_path / "data", out)
    with browser.HeadlessChromium() as chrome:
        chrome.load(out)
        assert chrome.errors() == []
        assert [u for u in chrome.requests() if not u.startswith(("file:", "data:"))] == []
        assert chrome.requests()[0] == out.resolve().as_uri()
        rows = chrome.evaluate("document.querySelectorAll('#per-sequence tbody tr').length")
        assert rows == len(seqs)
        assert chrome.evaluate("document.querySelectorAll('#overall tbody tr').length") == 3
        # every image decoded
        assert chrome.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
        # clicking a header sorts the rows (AUC of "drift", ascending then descending)
        col = chrome.evaluate("Array.from(document.querySelectorAll('#per-sequence thead th'))"
                              ".findIndex(th => th.textContent === 'AUC drift')")
        order = ("Array.from(document.querySelectorAll('#per-sequence tbody tr'))"
                 f".map(r => parseFloat(r.cells[{col}].getAttribute('data-v')))")
        chrome.evaluate(f"document.querySelectorAll('#per-sequence thead th')[{col}].click()")
        first = chrome.evaluate(order)
        chrome.evaluate(f"document.querySelectorAll('#per-sequence thead th')[{col}].click()")
        second = chrome.evaluate(order)
        assert first == sorted(first, reverse=True) and second == sorted(second) and first != second
        # the plots are visible and not blank in a screenshot of the page
        chrome.evaluate("window.scrollTo(0, 0)")
        shot = cv2.imdecode(np.frombuffer(chrome.screenshot_png(), np.uint8), cv2.IMREAD_COLOR)
        boxes = chrome.evaluate("Array.from(document.querySelectorAll('img.plot')).map(i => {"
                                "const r = i.getBoundingClientRect(); return [r.left, r.top + window.scrollY,"
                                " r.width, r.height]; })")
        assert len(boxes) == 3
        scale = shot.shape[1] / chrome.evaluate("document.documentElement.clientWidth")
        for x, y, w, h in boxes:
            assert w > 100 and h > 100
            region = shot[int(y * scale): int((y + h) * scale), int(x * scale): int((x + w) * scale)]
            assert region.size and _nonblank(region)
        assert chrome.errors() == []


def test_failure_thumbnail_draws_the_boxes_and_zooms_on_small_targets():
    import cv2

    image = np.full((200, 400, 3), 90, np.uint8)
    big = cv2.imdecode(np.frombuffer(report.draw_failure(image, [100, 50, 150, 100], [20, 20, 60, 40], (255, 0, 0)),
                                     np.uint8), cv2.IMREAD_COLOR)
    assert big.shape == (160, 320, 3)  # 400x200 -> 320 wide; the boxes are large: no zoom
    b, g, r = big[40, 120].astype(int)  # on the ground truth's top edge (y 50, x 100..250; scaled by 0.8)
    assert g > 150 and r < 100 and b < 100
    b, g, r = big[30, 16].astype(int)  # on the prediction's left edge (x 20, y 20..60; scaled by 0.8)
    assert r > 150 and g < 100
    small = cv2.imdecode(np.frombuffer(report.draw_failure(image, [300, 100, 8, 6], [310, 104, 8, 6], (255, 0, 0)),
                                       np.uint8), cv2.IMREAD_COLOR)
    assert small.shape[0] == 160 and small.shape[1] > 320 + 100  # the zoomed square beside the frame


def test_browser_test_fails_instead_of_skipping_in_ci(monkeypatch):
    from tests import browser

    monkeypatch.setattr(browser, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Chromium is required in CI"):
        _browser()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="Chromium not installed"):
        _browser()


def test_iou_strip_keeps_short_failures_of_long_sequences():
    import cv2

    iou = np.full(1000, 0.8)
    iou[500] = 0.0    # one failing frame
    iou[900:] = -1.0  # no valid ground truth
    bins = report_html.strip_bins(iou, max_width=100)
    assert len(bins) == 100 and bins[50] == 0.0 and (bins[90:] == -1).all() and (np.delete(bins[:90], 50) == 0.8).all()
    np.testing.assert_array_equal(report_html.strip_bins(iou[:50], max_width=100), iou[:50])
    png = cv2.imdecode(np.frombuffer(report_html.iou_strip_png(np.array([-1.0, 0.05, 0.5, 1.0])), np.uint8),
                       cv2.IMREAD_COLOR)[0, :, ::-1]  # RGB
    assert png.shape == (4, 3)
    assert tuple(png[0]) == (170, 170, 170) and tuple(png[1]) == (200, 0, 0)
    assert png[3][1] > 200 and png[3][0] < 10 and png[2][0] > 200 and png[2][1] > 200  # green; yellow
