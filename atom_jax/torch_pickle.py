"""Read PyTorch ``.pth`` files with NumPy only, without running code from the file.

A ``.pth`` is a pickle, and unpickling may call any function the file names (``os.system`` included). Here the
unpickler admits a fixed list of names: the tensor-rebuilding helpers of ``torch._utils`` and the storage
types (replaced by local functions that only record shapes), ``collections.OrderedDict``, ``torch.Size``, and
classes of pytracking's packages ``ltr`` / ``pytracking``, which become inert stand-ins that only keep the
arguments and state they are given. Any other name makes the load fail before anything is called.

Both container formats are read: the zip archive of torch >= 1.6 (``<name>/data.pkl`` + ``<name>/data/<key>``)
and the legacy stream of pickles (magic number, protocol, system info, object, storage keys, raw storages).
Tensors come back as NumPy arrays (C-contiguous copies). PyTorch itself is not needed.
"""

from __future__ import annotations

import collections
import io
import pickle
import struct
import zipfile

import numpy as np

from atom_jax.errors import InputError

_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
# Appended to "not a checkpoint" errors: this reader is reached for any weights file that is not an atom-jax one.
WEIGHTS_ACCEPTED = ("weights are read from an atom-jax .npz (atom-jax convert, atom-jax train) or a pytracking / "
                    "torchvision .pth")
_STANDIN_PACKAGES = ("ltr", "pytracking")


def _bfloat16():
    import ml_dtypes  # shipped with jaxlib

    return ml_dtypes.bfloat16


_STORAGE_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16, "CharStorage": np.int8,
    "ByteStorage": np.uint8, "BoolStorage": np.bool_, "BFloat16Storage": None,
}


class _StorageType:
    """What ``torch.FloatStorage`` etc. unpickle to: just the element type."""

    def __init__(self, name: str):
        self.name = name
        dtype = _STORAGE_DTYPES[name]
        self.dtype = np.dtype(_bfloat16() if dtype is None else dtype)


class _TensorRef:
    """A tensor seen in the pickle; turned into an array once all storages are read."""

    def __init__(self, storage_key, offset, size, stride):
        self.storage_key, self.offset, self.size, self.stride = storage_key, int(offset), tuple(size), tuple(stride)


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    # unused: requires_grad, backward_hooks, metadata (autograd bookkeeping)
    return _TensorRef(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *unused):
    return data


class StandIn:
    """Inert replacement for a pytracking class: keeps constructor arguments and pickled state, runs nothing."""

    _qualified_name = "?"

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs

    def __setstate__(self, state):
        self.__dict__["state"] = state
        if isinstance(state, dict):
            self.__dict__.update({k: v for k, v in state.items() if isinstance(k, str) and not k.startswith("__")})

    def __repr__(self):
        fields = {k: v for k, v in self.__dict__.items() if k not in ("state",)}
        return f"<stand-in for {self._qualified_name} {fields}>"


_standin_classes: dict[str, type] = {}


def _standin(module: str, name: str) -> type:
    qualified = f"{module}.{name}"
    if qualified not in _standin_classes:
        _standin_classes[qualified] = type(name, (StandIn,), {"_qualified_name": qualified, "__module__": __name__})
    return _standin_classes[qualified]


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch", "Size"): tuple,
}


class RefusedPickleError(InputError):
    """The pickle names something that is neither a tensor storage nor a known inert class."""


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, source: str, storage_ids: dict):
        super().__init__(file)
        self._source = source
        self._storages = storage_ids  # key -> (_StorageType, numel, view_metadata)

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module.split(".")[0] in _STANDIN_PACKAGES:
            return _standin(module, name)
        raise RefusedPickleError(
            f"{self._source}: refusing to load: the pickle references '{module}.{name}', which is neither a tensor "
            "storage nor a known inert class (the file may be malicious; nothing from it was executed)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"
                and isinstance(pid[1], _StorageType)):
            raise InputError(f"{self._source}: unsupported persistent id in the pickle: {pid!r:.200}")
        storage_type, key, _location, numel = pid[1:5]
        view = pid[5] if len(pid) == 6 else None
        self._storages[str(key)] = (storage_type, int(numel), view)
        # legacy storage views: the tensor refers to the view, (view_key, offset, size) into the root storage
        return str(view[0]) if view is not None else str(key)


def _materialize(obj, arrays: dict, source: str):
    """Replace every ``_TensorRef`` in nested dicts/lists/tuples by its array."""
    if isinstance(obj, _TensorRef):
        if obj.storage_key not in arrays:
            raise InputError(f"{source}: tensor refers to an unknown storage {obj.storage_key!r:.50}")
        flat = arrays[obj.storage_key]
        if not all(type(n) is int for n in obj.size + obj.stride) or len(obj.size) != len(obj.stride):
            raise InputError(f"{source}: malformed tensor size {obj.size!r:.100} / stride {obj.stride!r:.100}")
        if any(s < 0 for s in obj.stride + obj.size) or obj.offset < 0:
            raise InputError(f"{source}: tensor with negative size, stride or offset")
        if int(np.prod(obj.size, dtype=np.float64)) > max(flat.size, 1) * 64:  # e.g. stride-0 expansions
            raise InputError(f"{source}: tensor of size {obj.size} is implausibly large for its storage")
        extent = obj.offset + sum((n - 1) * s for n, s in zip(obj.size, obj.stride)) + 1
        if min(obj.size, default=1) > 0 and extent > flat.size:
            raise InputError(f"{source}: tensor of size {obj.size} reaches beyond its storage ({flat.size} elements)")
        if min(obj.size, default=1) == 0:
            return np.zeros(obj.size, flat.dtype)
        item = flat.dtype.itemsize
        view = np.lib.stride_tricks.as_strided(flat[obj.offset:], obj.size, [s * item for s in obj.stride],
                                               writeable=False)
        return np.array(view, order="C")
    if isinstance(obj, dict):
        out = type(obj)() if isinstance(obj, collections.OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialize(v, arrays, source)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, arrays, source) for v in obj)
    return obj


def _load_zip(zf: zipfile.ZipFile, source: str):
    pkl = [n for n in zf.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkl) != 1:
        raise InputError(f"{source}: a zip archive but not a PyTorch checkpoint (no single data.pkl inside) nor "
                         f"an atom-jax weights file (no __header__); {WEIGHTS_ACCEPTED}")
    prefix = pkl[0][: -len("data.pkl")]
    big_endian = False
    if prefix + "byteorder" in zf.namelist():
        big_endian = zf.read(prefix + "byteorder").strip() == b"big"
    storages: dict = {}
    obj = _Unpickler(io.BytesIO(zf.read(pkl[0])), source, storages).load()
    arrays = {}
    for key, (stype, numel, _view) in storages.items():
        name = f"{prefix}data/{key}"
        try:
            raw = zf.read(name)
        except KeyError:
            raise InputError(f"{source}: storage '{name}' is missing from the archive") from None
        dtype = stype.dtype.newbyteorder(">") if big_endian else stype.dtype
        if len(raw) < numel * dtype.itemsize:
            raise InputError(f"{source}: storage '{name}' is shorter than its {numel} elements")
        arrays[key] = np.frombuffer(raw, dtype, count=numel).astype(stype.dtype)
    return _materialize(obj, arrays, source)


def _load_legacy(f, source: str):
    storages: dict = {}
    try:
        magic = _Unpickler(f, source, storages).load()
    except RefusedPickleError:
        raise
    except Exception:
        magic = None
    if type(magic) is not int or magic != _LEGACY_MAGIC:
        raise InputError(f"{source}: not a PyTorch checkpoint (neither a zip archive nor a legacy torch.save file) "
                         f"nor an atom-jax weights file; {WEIGHTS_ACCEPTED}")
    for _ in range(2):  # protocol version, system info
        _Unpickler(f, source, storages).load()
    obj = _Unpickler(f, source, storages).load()
    keys = _Unpickler(f, source, storages).load()
    arrays = {}
    for key in keys:
        key = str(key)
        stype, numel, _view = storages[key]
        (count,) = struct.unpack("<q", f.read(8))
        data = f.read(count * stype.dtype.itemsize)
        if count != numel or len(data) != count * stype.dtype.itemsize:
            raise InputError(f"{source}: storage {key} is truncated or inconsistent")
        arrays[key] = np.frombuffer(data, stype.dtype).copy()
    for key, (stype, numel, view) in storages.items():
        if view is not None:
            view_key, offset, size = view
            arrays[str(view_key)] = arrays[key][int(offset):int(offset) + int(size)]
    return _materialize(obj, arrays, source)


def load_pth(path) -> object:
    """Unpickle a ``.pth`` file safely; tensors become NumPy arrays, pytracking objects inert stand-ins.

    Raises ``InputError`` for a file that is not a PyTorch checkpoint, and ``RefusedPickleError`` (an
    ``InputError``) for a pickle that names any function or class outside the admitted list.
    """
    source = str(path)
    try:
        if zipfile.is_zipfile(source):
            with zipfile.ZipFile(source) as zf:
                return _load_zip(zf, source)
        with open(source, "rb") as f:
            return _load_legacy(f, source)
    except FileNotFoundError:
        raise InputError(f"{source}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{source}: is a directory, not a checkpoint file") from None
    except (pickle.UnpicklingError, EOFError, struct.error, zipfile.BadZipFile) as err:
        raise InputError(f"{source}: not a readable PyTorch checkpoint ({err}); {WEIGHTS_ACCEPTED}") from None
