"""Weight import and the project's weights file: round trips, pytracking/torchvision checkpoints, errors, safety."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

from atom_jax import cli
from atom_jax.convert import convert_state_dict, torch_key
from atom_jax.errors import InputError
from atom_jax.torch_pickle import RefusedPickleError, load_pth
from atom_jax.weights import (FORMAT, expected_shapes, flatten_tree, load_weights, load_weights_with_meta,
                              save_weights, unflatten_tree)


@pytest.fixture(scope="module")
def weights():
    """Random float32 arrays in the networks' shapes (initialising for real costs seconds of compilation)."""
    rng = np.random.default_rng(0)
    return {part: unflatten_tree({path: rng.normal(size=shape).astype(np.float32)
                                  for path, shape in expected_shapes(part).items()})
            for part in ("backbone", "iou_net")}


def _equal_trees(a, b):
    fa, fb = flatten_tree(a), flatten_tree(b)
    return set(fa) == set(fb) and all(np.array_equal(np.asarray(fa[k]), np.asarray(fb[k])) for k in fa)


def test_round_trip_is_exact_and_self_describing(tmp_path, weights):
    path = tmp_path / "w.npz"
    save_weights(path, weights, {"source": "unit test", "note": [1, 2]})
    loaded, meta = load_weights_with_meta(path)
    assert _equal_trees(loaded, weights)
    assert meta == {"source": "unit test", "note": [1, 2]}
    with np.load(path, allow_pickle=False) as npz:
        header = json.loads(str(npz["__header__"]))
        assert npz["backbone/params/layer1_0/conv1/kernel"].shape == (3, 3, 64, 64)
    assert header["format"] == FORMAT and header["format_version"] == 1
    assert header["contents"] == ["backbone", "iou_net"]


def test_backbone_only_file(tmp_path, weights):
    save_weights(tmp_path / "b.npz", {"backbone": weights["backbone"]})
    assert set(load_weights(tmp_path / "b.npz")) == {"backbone"}


def test_weights_file_errors_list_the_arrays(tmp_path, weights):
    flat = {k: np.asarray(v) for k, v in flatten_tree(weights).items()}
    with open(tmp_path / "w.npz", "wb") as f:
        np.savez(f, **flat)  # no header
    with pytest.raises(InputError, match="not a PyTorch checkpoint|not an atom-jax"):
        load_weights(tmp_path / "w.npz")
    broken = dict(weights)
    iou = {"params": dict(weights["iou_net"]["params"]), "batch_stats": weights["iou_net"]["batch_stats"]}
    del iou["params"]["fc3_rt"]
    iou["params"]["extra"] = {"kernel": np.zeros(3)}
    iou["params"]["iou_predictor"] = {"kernel": np.zeros((512, 2)), "bias": np.zeros(1)}
    broken["iou_net"] = iou
    with pytest.raises(InputError) as err:
        save_weights(tmp_path / "x.npz", broken)
    msg = str(err.value)
    assert "missing: params/fc3_rt/bn/bias" in msg and "unexpected: params/extra/kernel" in msg
    assert "params/iou_predictor/kernel: (512, 2) (expected (512, 1))" in msg


@pytest.mark.parametrize("content", [b"hello, not a checkpoint\n", b""])
def test_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "x.pth"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_weights(path)
    with zipfile.ZipFile(tmp_path / "z.pth", "w") as zf:
        zf.writestr("readme.txt", "just a zip")
    with pytest.raises(InputError, match="not a PyTorch checkpoint"):
        load_weights(tmp_path / "z.pth")
    with pytest.raises(InputError, match="no such file|not found"):
        load_weights(tmp_path / "missing.pth")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, capsys):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    path.write_bytes(pickle.dumps({"net": _Exploit(marker)}, protocol=2))
    with pytest.raises(RefusedPickleError, match=r"refusing to load.*'(posix|os|nt)\.system'"):
        load_weights(path)
    assert cli.main(["convert", str(path), "-o", str(tmp_path / "out.npz")]) == 2
    assert "refusing to load" in capsys.readouterr().err
    assert not marker.exists() and not (tmp_path / "out.npz").exists()


def test_malicious_zip_checkpoint_is_refused(tmp_path, torch):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    torch.save({"net": {"w": torch.zeros(2)}, "constructor": _Exploit(marker)}, path)
    with pytest.raises(RefusedPickleError):
        load_pth(path)
    assert not marker.exists()


def test_state_dict_errors_list_keys():
    state = {"bb_regressor.conv3_1r.0.weight": np.zeros((128, 128, 3, 3)), "bb_regressor.bogus": np.zeros(1)}
    with pytest.raises(InputError) as err:
        convert_state_dict(state, "ck.pth")
    msg = str(err.value)
    assert "missing: feature_extractor.bn1.running_mean" in msg and "feature_extractor.conv1.weight" in msg
    assert "bb_regressor.conv3_1r.0.weight" not in msg and "unexpected: bb_regressor.bogus" in msg
    state = {f"bb_regressor.{torch_key('iou_net', p)}": np.zeros(s[::-1] if len(s) == 2 else s, np.float32)
             for p, s in expected_shapes("iou_net").items()}
    state["bb_regressor.conv3_1r.0.weight"] = np.zeros((128, 64, 3, 3))
    with pytest.raises(InputError, match=r"shape mismatch: bb_regressor.conv3_1r.0.weight: \(128, 64, 3, 3\)"):
        convert_state_dict(state, "ck.pth", parts=("iou_net",))
    with pytest.raises(InputError, match="not a pytracking ATOM or torchvision ResNet-18"):
        convert_state_dict({"foo.weight": np.zeros(1)}, "ck.pth")


_FAKE_LTR = '''
class NetConstructor:
    """Stand-in with the module path of ltr's class, so that pickles reference ltr.admin.model_constructor."""
    def __init__(self, fun_name, fun_module, args, kwds):
        self.fun_name, self.fun_module, self.args, self.kwds = fun_name, fun_module, args, kwds
'''


@pytest.fixture(scope="module")
def torch_nets(torch):
    from tests.parity.torch_networks import TorchAtomIoUNet, TorchResNet18, randomize_

    return randomize_(TorchResNet18(), 3), randomize_(TorchAtomIoUNet(), 4)


def _save_pytracking_checkpoint(torch, tmp_path, nets, legacy: bool):
    """Write a checkpoint the way pytracking does, with a fake ``ltr`` package importable only meanwhile."""
    pkg = tmp_path / "fake_ltr"
    (pkg / "ltr" / "admin").mkdir(parents=True)
    (pkg / "ltr" / "__init__.py").write_text("")
    (pkg / "ltr" / "admin" / "__init__.py").write_text("")
    (pkg / "ltr" / "admin" / "model_constructor.py").write_text(textwrap.dedent(_FAKE_LTR))
    sys.path.insert(0, str(pkg))
    try:
        from ltr.admin.model_constructor import NetConstructor

        backbone, iou = nets
        state = {**{"feature_extractor." + k: v for k, v in backbone.state_dict().items()},
                 **{"bb_regressor." + k: v for k, v in iou.state_dict().items()}}
        checkpoint = {"epoch": 50, "actor_type": "AtomActor", "net_type": "ATOMnet", "net": state, "net_info": None,
                      "constructor": NetConstructor("atom_resnet18", "ltr.models.bbreg.atom", (), {"x": 1})}
        path = tmp_path / ("legacy.pth" if legacy else "zip.pth")
        torch.save(checkpoint, path, _use_new_zipfile_serialization=not legacy)
    finally:
        sys.path.remove(str(pkg))
        for name in [m for m in sys.modules if m == "ltr" or m.startswith("ltr.")]:
            del sys.modules[name]
    return path, {k: v.numpy() for k, v in state.items()}


@pytest.mark.parametrize("legacy", [False, True])
def test_pytracking_checkpoint_without_ltr(tmp_path, torch, torch_nets, legacy):
    path, state = _save_pytracking_checkpoint(torch, tmp_path, torch_nets, legacy)
    weights, meta = load_weights_with_meta(path)
    expected, _ = convert_state_dict(state, "in memory")
    assert _equal_trees(weights, expected)
    assert meta["layout"] == "pytracking" and meta["checkpoint"]["epoch"] == 50
    assert meta["checkpoint"]["constructor"]["fun_name"] == "atom_resnet18"
    assert meta["dropped_keys"] == ["feature_extractor.fc.weight", "feature_extractor.fc.bias"]
    # the CLI writes the same weights
    assert cli.main(["convert", str(path), "-o", str(tmp_path / "out.npz")]) == 0
    assert _equal_trees(load_weights(tmp_path / "out.npz"), expected)


def test_reader_needs_no_torch(tmp_path, torch, torch_nets):
    """The zip and legacy files load in a Python where ``import torch`` fails."""
    paths = [_save_pytracking_checkpoint(torch, tmp_path / str(i), torch_nets, legacy)[0]
             for i, legacy in enumerate((False, True))]
    code = ("import sys; sys.modules['torch'] = None\n"
            "from atom_jax.torch_pickle import load_pth\n"
            f"for p in {[str(p) for p in paths]}:\n"
            "    ck = load_pth(p); assert ck['net']['bb_regressor.fc3_rt.linear.weight'].shape == (256, 6400)\n"
            "assert sys.modules['torch'] is None\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize("legacy", [False, True])
def test_views_strides_and_dtypes(tmp_path, torch, legacy):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    obj = {"t": base, "col": base[:, 2], "tr": base.t(), "half": torch.ones(3, dtype=torch.float16),
           "long": torch.tensor([1, -2], dtype=torch.int64), "empty": torch.zeros(0, 3),
           "bool": torch.tensor([True, False])}
    path = tmp_path / "v.pth"
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    loaded = load_pth(path)
    for key, value in obj.items():
        assert loaded[key].dtype == value.numpy().dtype and np.array_equal(loaded[key], value.numpy()), key


def test_torchvision_state_dict(tmp_path, torch, torch_nets):
    backbone, _ = torch_nets
    torch.save(backbone.state_dict(), tmp_path / "resnet18.pth")
    weights, meta = load_weights_with_meta(tmp_path / "resnet18.pth")
    assert set(weights) == {"backbone"} and meta["layout"] == "torchvision"
    kernel = np.asarray(weights["backbone"]["params"]["layer2_0"]["downsample_0"]["kernel"])
    np.testing.assert_array_equal(kernel, backbone.layer2[0].downsample[0].weight.detach().numpy().transpose(2, 3, 1, 0))


def test_convert_an_atom_jax_file(tmp_path, weights, capsys):
    """``atom-jax convert`` takes any weights file, an atom-jax .npz too, and writes every part it loads."""
    save_weights(tmp_path / "src.npz", weights, {"trained_by": "unit test"})
    assert cli.main(["convert", str(tmp_path / "src.npz"), "-o", str(tmp_path / "out.npz")]) == 0
    assert "wrote" in capsys.readouterr().out
    loaded, meta = load_weights_with_meta(tmp_path / "out.npz")
    assert _equal_trees(loaded, weights)
    assert meta == {"trained_by": "unit test", "converted_from": "src.npz"}
    save_weights(tmp_path / "head.npz", {"iou_net": weights["iou_net"]})  # nothing names a backbone
    assert cli.main(["convert", str(tmp_path / "head.npz"), "-o", str(tmp_path / "head2.npz")]) == 0
    assert "holds no backbone" in capsys.readouterr().out
    (tmp_path / "notes.md").write_text("# not weights\n")
    assert cli.main(["convert", str(tmp_path / "notes.md"), "-o", str(tmp_path / "x.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "atom-jax .npz" in err and len(err.splitlines()) == 1, err


def test_convert_makes_the_demo_weights_self_contained(tmp_path, capsys):
    """The bundled demo file stores the IoU-Net and names its backbone (a seeded ResNet-18); the converted file
    stores both, equal to what loading the demo file rebuilds."""
    from atom_jax.weights import PARTS

    demo = pathlib.Path(__file__).resolve().parents[1] / "atom_jax" / "weights" / "demo.npz"
    assert cli.main(["convert", str(demo), "-o", str(tmp_path / "full.npz")]) == 0
    assert "not self-contained" not in capsys.readouterr().out
    stored, _ = load_weights_with_meta(tmp_path / "full.npz", complete_backbone=False)
    assert set(stored) == set(PARTS)
    assert _equal_trees(stored, load_weights(demo))


def test_cli_output_name(tmp_path, capsys):
    assert cli.main(["convert", "x.pth", "-o", str(tmp_path / "w.bin")]) == 2
    assert "must end with .npz" in capsys.readouterr().err


@pytest.mark.reference
def test_shared_checkpoint_converts(reference_dir, tmp_path):
    src = reference_dir / "atom_random_seed0.pth"
    assert cli.main(["convert", str(src), "-o", str(tmp_path / "atom.npz")]) == 0
    weights, meta = load_weights_with_meta(tmp_path / "atom.npz")
    assert meta["checkpoint"]["constructor"]["fun_name"] == "atom_resnet18"
    # storage 0 of the archive is feature_extractor.conv1.weight (64, 3, 7, 7), float32, in pickle order
    with zipfile.ZipFile(src) as zf:
        raw = np.frombuffer(zf.read("atom_random_seed0/data/0"), np.float32).reshape(64, 3, 7, 7)
    np.testing.assert_array_equal(np.asarray(weights["backbone"]["params"]["conv1"]["kernel"]),
                                  raw.transpose(2, 3, 1, 0))


def _crafted_zip(torch, path, size, stride):
    """A torch-style zip whose one tensor has the given size/stride over a 4-element float storage."""
    import collections
    import io

    class Storage:
        pass

    class Tensor:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if isinstance(obj, Storage) else None

        def reducer_override(self, obj):
            if isinstance(obj, Tensor):
                return torch._utils._rebuild_tensor_v2, (Storage(), 0, size, stride, False, collections.OrderedDict())
            return NotImplemented

    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"w": Tensor()})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        zf.writestr("archive/data/0", np.arange(4, dtype=np.float32).tobytes())


def test_crafted_tensor_geometry_is_checked(tmp_path, torch):
    _crafted_zip(torch, tmp_path / "ok.pth", (2, 2), (1, 2))
    np.testing.assert_array_equal(load_pth(tmp_path / "ok.pth")["w"], [[0, 2], [1, 3]])
    _crafted_zip(torch, tmp_path / "far.pth", (2, 2), (1, 100))
    with pytest.raises(InputError, match="reaches beyond its storage"):
        load_pth(tmp_path / "far.pth")
    _crafted_zip(torch, tmp_path / "huge.pth", (100000, 100000), (0, 0))
    with pytest.raises(InputError, match="implausibly large"):
        load_pth(tmp_path / "huge.pth")
