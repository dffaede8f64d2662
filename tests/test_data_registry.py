"""atom_jax.data.registry: benchmark names and dataset specs."""

from __future__ import annotations

import pytest

from atom_jax.data.registry import BENCHMARKS, load_dataset
from atom_jax.errors import InputError


def test_unknown_dataset_and_missing_sequences(tmp_path):
    with pytest.raises(InputError, match="unknown dataset"):
        load_dataset("otb2013", tmp_path)
    with pytest.raises(InputError, match="no otb sequences"):
        load_dataset("otb", tmp_path)


def test_specs_name_kind_arguments_and_selection(tmp_path):
    from atom_jax.data.registry import KINDS, open_dataset
    from tests.layouts import _touch_frames, _write_boxes

    assert {spec["kind"] for spec in BENCHMARKS.values()} <= set(KINDS)
    for name in ("a", "b", "c"):
        _touch_frames(tmp_path / name / "img", [1, 2], 4)
        _write_boxes(tmp_path / name / "groundtruth_rect.txt", 2)
    assert open_dataset({"kind": "generic", "root": tmp_path}).names == ("a", "b", "c")
    assert open_dataset({"kind": "generic", "root": tmp_path, "names": ["c", "a"], "exclude": ["a"]}).names == ("c",)
    with pytest.raises(InputError, match="no generic sequences found"):
        open_dataset({"kind": "generic", "root": tmp_path, "exclude": ["a", "b", "c"]})
    with pytest.raises(InputError, match="dataset spec .*'generic'.*split"):
        open_dataset({"kind": "generic", "root": tmp_path, "split": "train"})
    with pytest.raises(InputError, match="unknown LaSOT split 'val'"):
        open_dataset({"kind": "lasot", "root": tmp_path, "split": "val"})
    assert [s.name for s in load_dataset("generic", tmp_path, ["b"])] == ["b"]
    with pytest.raises(InputError, match="sequences not in otb"):
        load_dataset("otb", tmp_path, ["Crossing"])
