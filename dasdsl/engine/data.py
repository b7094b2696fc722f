"""Data: the built-in sources (digits, an MNIST-1D generator, CIFAR-10 batches, .npz arrays, synthetic data),
the caller's own arrays or torch datasets, and the three parts a run draws batches from.

Every source is validated before training starts (paths, array names, shapes, dtypes, label ranges,
NaN) and split by seed into ``Split``'s weight, architecture and test ``Part``s: tensors on the device
for arrays, or a dataset read batch by batch (``DatasetPart``). ``ir_for`` builds a space's IR for its data.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import random
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch

from dasdsl.compiler.build import build_ir
from dasdsl.compiler.ir import NetworkIR
from dasdsl.errors import DasError, did_you_mean, fail
from dasdsl.lang.checked import CheckedSpace
from dasdsl.lang.settings import is_source, parse_spec

Arrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # x, y, x_test, y_test


@attrs.frozen
class Source:
    """A built-in data source: ``load(path, kind)`` gives (x, y, x_test, y_test), checked by ``load`` below."""

    name: str
    doc: str
    load: Callable[[str, str], Arrays]
    needs_path: bool = False


SOURCES_BY_NAME: dict[str, Source] = {}


def source(name: str, doc: str, *, needs_path: bool = False) -> Callable[[Callable[[str, str], Arrays]], Any]:
    """Register a data source under ``name``: the one place a new source is added."""

    def register(fn: Callable[[str, str], Arrays]) -> Callable[[str, str], Arrays]:
        assert name not in SOURCES_BY_NAME, f"data source {name!r} is registered twice"
        SOURCES_BY_NAME[name] = Source(name, doc, fn, needs_path)
        return fn

    return register


@attrs.frozen
class Dataset:
    """Arrays ready for torch: x float32 (N, *shape), y int64 (N,), with a held-out test part."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])


def default_source(kind: str) -> str:
    return "mnist1d" if kind == "sequence" else "digits"


def _as_kind(x: np.ndarray, kind: str, name: str) -> np.ndarray:
    """Reshape (N, C, *spatial) arrays to the space's input kind."""
    if kind == "vector":
        return x.reshape(len(x), -1)
    if kind == "image":
        if x.ndim != 4:
            raise fail(
                f"data '{name}' has samples of shape {x.shape[1:]}, but the space's input is image (C, H, W)", "<data>"
            )
        return x
    if x.ndim == 3:
        return x
    if x.ndim == 4:  # images as sequences: rows become positions
        n, c, h, w = x.shape
        return x.reshape(n, c * h, w)
    raise fail(f"data '{name}' has samples of shape {x.shape[1:]}, but the space's input is sequence (C, L)", "<data>")


def _holdout_order(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A fixed 80/20 train/test split (a permutation seeded 1234) of data that comes without a test part."""
    order = np.random.default_rng(1234).permutation(n)
    return order[: int(0.8 * n)], order[int(0.8 * n) :]


def _holdout(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    train, test = _holdout_order(len(x))
    return x[train], y[train], x[test], y[test]


@source("digits", "scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes; 20% held out)")
def _digits(path: str, kind: str) -> Arrays:
    from sklearn.datasets import load_digits  # scikit-learn (about a second to import) only for this source

    d = load_digits()
    return _holdout((d.images.astype(np.float32) / 16.0)[:, None], d.target.astype(np.int64))


@functools.lru_cache(maxsize=1)
def mnist1d() -> Arrays:
    """MNIST-1D (Greydanus 2020) from the ``mnist1d`` package's own generator with its default arguments:
    4,000 training and 1,000 test sequences of 40 steps, the split of the paper, generated locally and
    deterministically (no download). The generator seeds numpy's and ``random``'s global state; both are
    restored afterwards so that loading data does not change the caller's random streams."""
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib: only for this source

    saved = np.random.get_state(), random.getstate()
    try:
        d = make_dataset(get_dataset_args())
    finally:
        np.random.set_state(saved[0])
        random.setstate(saved[1])

    def seq(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x, dtype=np.float32)[:, None, :]

    return seq(d["x"]), d["y"].astype(np.int64), seq(d["x_test"]), d["y_test"].astype(np.int64)


@source("mnist1d", "MNIST-1D (the `mnist1d` package's generator: 4,000 train / 1,000 test sequences of 40 steps)")
def _mnist1d(path: str, kind: str) -> Arrays:
    x, y, x_test, y_test = mnist1d()  # cached: copies, so that no caller changes the cache
    return x.copy(), y.copy(), x_test.copy(), y_test.copy()


class _BatchUnpickler(pickle.Unpickler):
    """CIFAR-10's python batches hold a dict of bytes, strings, numbers, lists and numpy arrays. A pickle can
    name any function to call while it loads, so only the globals that rebuild numpy arrays are admitted:
    a crafted batch is refused before it runs anything."""

    ALLOWED = frozenset(
        (module, name)
        for module in ("numpy.core.multiarray", "numpy._core.multiarray", "numpy")
        for name in ("_reconstruct", "scalar", "ndarray", "dtype")
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"it names {module}.{name}, which no CIFAR-10 batch holds (refused, not run)")


@source("cifar10", 'CIFAR-10 from its python batches in a folder: cifar10("PATH")', needs_path=True)
def _cifar10(path: str, kind: str) -> Arrays:
    root = Path(path).expanduser()
    if (root / "cifar-10-batches-py").is_dir():
        root = root / "cifar-10-batches-py"
    if not root.is_dir():
        raise fail(
            f"cifar10: no folder {path}",
            "<data>",
            "give the folder holding data_batch_1 ... data_batch_5 and test_batch",
        )

    def batch(name: str) -> tuple[np.ndarray, np.ndarray]:
        file = root / name
        if not file.is_file():
            raise fail(f"cifar10: missing {file}", "<data>", "the folder must hold the CIFAR-10 python batches")
        try:
            with open(file, "rb") as f:
                d = _BatchUnpickler(f, encoding="bytes").load()
            x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32)
            y = np.asarray(d[b"labels"], dtype=np.int64)
        except Exception as exc:
            raise fail(
                f"cifar10: {file} is not a CIFAR-10 python batch ({type(exc).__name__}: {exc})", "<data>"
            ) from None
        return x, y

    parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
    x_test, y_test = batch("test_batch")
    mean = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)[:, None, None]
    std = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)[:, None, None]

    def norm(x: np.ndarray) -> np.ndarray:
        return ((x.astype(np.float32) / 255.0) - mean) / std

    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    return norm(x), y, norm(x_test), y_test


@source("npz", 'arrays x, y (and x_test, y_test) in a .npz file: npz("PATH")', needs_path=True)
def _npz(path: str, kind: str) -> Arrays:
    file = Path(path).expanduser()
    if not file.is_file():
        raise fail(
            f"npz: no file {path}", "<data>", "give a .npz file with arrays x and y (and optionally x_test, y_test)"
        )
    try:
        arrays = np.load(file, allow_pickle=False)
        if not isinstance(arrays, np.lib.npyio.NpzFile):
            raise fail(
                f"npz: {path} holds a single array (a .npy file), not named arrays x and y",
                "<data>",
                "save the data with numpy.savez(path, x=..., y=...) (optionally x_test=..., y_test=...)",
            )
        names = set(arrays.files)
    except DasError:
        raise
    except Exception as exc:
        raise fail(f"npz: cannot read {path}: {type(exc).__name__}: {exc}", "<data>") from None
    missing = {"x", "y"} - names
    if missing:
        raise fail(
            f"npz: {path} has no array {' or '.join(sorted(missing))}; it holds {', '.join(sorted(names))}",
            "<data>",
            "name the arrays x and y (and optionally x_test and y_test)",
        )
    has_test = "x_test" in names and "y_test" in names
    try:  # arrays are read lazily: object arrays and damaged members fail here, not at np.load
        x, y = arrays["x"], arrays["y"]
        if has_test:
            x_test, y_test = arrays["x_test"], arrays["y_test"]
    except Exception as exc:
        raise fail(f"npz: cannot read the arrays of {path}: {type(exc).__name__}: {exc}", "<data>") from None
    pairs = (("", x, y), ("_test", x_test, y_test)) if has_test else (("", x, y),)
    for part, xs, ys in pairs:  # before the split below indexes y by x's length
        if np.ndim(xs) == 0 or np.ndim(ys) == 0 or len(xs) != len(ys):
            raise fail(
                f"npz: x{part} has shape {np.shape(xs)} but y{part} {np.shape(ys)}; expected one label per sample",
                "<data>",
            )
    if not has_test:
        x, y, x_test, y_test = _holdout(x, y)
    for name, arr in (("x", x), ("x_test", x_test)):
        if not np.issubdtype(arr.dtype, np.number):
            raise fail(f"npz: array {name} has dtype {arr.dtype}; expected numbers", "<data>")
    for name, arr in (("y", y), ("y_test", y_test)):
        if not np.issubdtype(arr.dtype, np.integer):
            raise fail(f"npz: labels {name} have dtype {arr.dtype}; expected integers", "<data>")
        if arr.ndim != 1:
            raise fail(f"npz: labels {name} have shape {arr.shape}; expected one label per sample", "<data>")
    # one missing channel axis is added: (N, L) -> (N, 1, L) for sequences, (N, H, W) -> (N, 1, H, W) for
    # images; flat vectors are not images (they are left for _as_kind to reject)
    if (kind == "sequence" and x.ndim == 2) or (kind == "image" and x.ndim == 3):
        x, x_test = x[:, None], x_test[:, None]
    return x, y, x_test, y_test  # converted by _validated, after its checks (complex inputs, fractional labels)


def synthetic(kind: str, n: int = 256, classes: int = 4, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Small random data whose label is learnable from the input (tests)."""
    rng = np.random.default_rng(seed)
    shape = {"image": (1, 8, 8), "sequence": (1, 16), "vector": (16,)}[kind]
    y = rng.integers(0, classes, n)
    x = rng.normal(0, 1, (n, *shape)).astype(np.float32)
    x.reshape(n, -1)[:, :classes] += 2.0 * np.eye(classes, dtype=np.float32)[y]
    cut = int(0.75 * n)
    return x[:cut], y[:cut].astype(np.int64), x[cut:], y[cut:].astype(np.int64)


@source("synthetic", "small random data whose label is learnable from the input (tests)")
def _synthetic(path: str, kind: str) -> Arrays:
    return synthetic(kind)  # type: ignore[return-value]


SOURCES = tuple(SOURCES_BY_NAME)


def load(spec: Any, kind: str) -> Dataset:
    """Load and validate a data source for a space whose input is ``kind``."""
    name, path = parse_spec(spec)
    if name not in SOURCES_BY_NAME and path is None and name.lower().endswith(".npz"):
        name, path = "npz", name  # a bare path, `--data arrays.npz`, means the npz source
    found = SOURCES_BY_NAME.get(name)
    if found is None:
        raise fail(
            f"unknown data source '{name}'",
            "<data>",
            did_you_mean(name, SOURCES) or f"expected one of {', '.join(SOURCES)}",
        )
    if found.needs_path and not path:
        raise fail(
            f'data source {name} needs a path: {name}("PATH") in the search block or --data {name}:PATH', "<data>"
        )
    return _validated(name, *found.load(path or "", kind), kind)


def _validated(name: str, x: Any, y: Any, x_test: Any, y_test: Any, kind: str) -> Dataset:
    """Arrays checked and shaped for a space whose input is ``kind``: finite inputs, integer labels."""
    x, y, x_test, y_test = (np.asarray(a) for a in (x, y, x_test, y_test))
    for label, arr in (("training", x), ("test", x_test)):
        if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)) or arr.dtype == bool:
            raise fail(
                f"data '{name}': the {label} inputs are {arr.dtype}, not real numbers",
                "<data>",
                "convert them to float",
            )
    y, y_test = _labels(y, name), _labels(y_test, name)
    x, x_test = _as_kind(x, kind, name), _as_kind(x_test, kind, name)
    if x.shape[1:] != x_test.shape[1:]:
        raise fail(
            f"data '{name}': training samples have shape {x.shape[1:]} but test samples {x_test.shape[1:]}", "<data>"
        )
    if len(x) < 4:
        raise fail(f"data '{name}' has only {len(x)} training samples", "<data>")
    if len(x_test) == 0:
        raise fail(f"data '{name}' has no test samples", "<data>")
    for label, arr in (("training", x), ("test", x_test)):
        if not np.isfinite(arr).all():
            raise fail(f"data '{name}': the {label} inputs contain NaN or infinite values", "<data>")
    classes = _classes_of(name, y, y_test)
    return Dataset(name, x.astype(np.float32, copy=False), y, x_test.astype(np.float32, copy=False), y_test, classes)


def _classes_of(name: str, y: np.ndarray, y_test: np.ndarray, stacklevel: int = 3) -> int:
    """The class count of integer labels, checked the same for arrays and datasets: no negative label, two
    classes at least, no stray label that would size the classifier beyond the samples."""
    if y.min() < 0 or y_test.min() < 0:
        raise fail(f"data '{name}': negative labels", "<data>", "labels must be class indices 0 .. K-1")
    classes = int(max(y.max(), y_test.max())) + 1
    if len(np.unique(y)) < 2:
        raise fail(f"data '{name}': every training label is {int(y[0])}: one class, nothing to tell apart", "<data>")
    if classes > len(y) + len(y_test):  # a stray label would size the classifier to it (and may exhaust memory)
        raise fail(
            f"data '{name}': labels run up to {classes - 1}, more classes than the {len(y) + len(y_test)} samples",
            "<data>",
            "labels must be class indices 0 .. K-1",
        )
    present = np.unique(np.concatenate([y, y_test]))  # classes <= the number of samples here
    if len(present) < classes:
        missing = sorted(set(range(classes)) - set(present.tolist()))
        shown = ", ".join(map(str, missing[:5])) + (" ..." if len(missing) > 5 else "")
        warnings.warn(
            f"data '{name}': labels run up to {classes - 1} but class {shown} never occurs; "
            f"the classifier still has {classes} outputs",
            stacklevel=stacklevel,
        )
    return classes


def _labels(y: np.ndarray, name: str) -> np.ndarray:
    """Class indices as int64; labels that are whole numbers stored as floats are accepted."""
    if y.ndim != 1:
        raise fail(
            f"data '{name}': labels must be one class index per sample, got an array of shape {y.shape}", "<data>"
        )
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64, copy=False)
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (np.mod(y, 1) == 0).all():
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating):
        bad = y[~(np.isfinite(y) & (np.mod(np.nan_to_num(y), 1) == 0))][0]
        raise fail(
            f"data '{name}': labels must be integer class indices 0 .. K-1, got the fractional label {bad!r}",
            "<data>",
            "labels are class indices; for regression targets dasdsl has no loss",
        )
    raise fail(f"data '{name}': labels must be integer class indices 0 .. K-1, got {y.dtype} values", "<data>")


def spec_text(spec: Any) -> str:
    """A data source as the text that loads it again (``digits``, ``npz:PATH``): what a run directory records.
    A search block's value is a ``Symbol`` or ``Setting``, whose repr would not load."""
    name, path = parse_spec(spec)
    return name if path is None else f"{name}:{path}"


def source_name(data: str | os.PathLike) -> str:
    """A source as the API's ``data=`` gives it (a name, ``npz:PATH``, a .npz path as text or ``Path``) in the
    form the ``data`` setting reads: a bare .npz path becomes ``npz:PATH``."""
    text = os.fspath(data)
    if isinstance(data, os.PathLike) or (text.lower().endswith(".npz") and not text.startswith("npz:")):
        return f"npz:{text}"
    return text


def spec_for(space: Any, override: Any = None) -> Any:
    """The data a space runs on: the command line's, else its search block's, else the default."""
    return override or space.search_block.get("data", (None,))[0] or default_source(space.input_kind)


def describe(space: Any, override: Any = None, classes: int | None = None) -> tuple[tuple[int, ...], int]:
    """Input shape and class count of the space's data without training on it: ``override`` in any form
    ``data=`` takes (a source, arrays, datasets), else the space's own data."""
    data = spec_for(space, None) if is_source(override) and not override else override
    return shape_and_classes(data, space.input_kind, classes)


def ir_for(
    space: CheckedSpace, input_shape: tuple[int, ...] | None = None, classes: int | None = None, data: Any = None
) -> NetworkIR:
    """The IR of a space: shape and classes as given, else from ``data`` (any form ``data=`` takes), else the
    space's input declaration (``input image(1, 8, 8) classes 10``) and its own data."""
    shape = tuple(input_shape) if input_shape is not None else None
    if data is not None and (shape is None or classes is None):
        d_shape, d_classes = describe(space, data)
        shape, classes = shape or d_shape, classes or d_classes
    shape = shape or space.input_shape
    classes = classes or getattr(space, "input_classes", None)
    if shape is None or classes is None:
        d_shape, d_classes = describe(space)
        shape, classes = shape or d_shape, classes or d_classes
    return build_ir(space, tuple(shape), int(classes))


# ---- the parts a search draws batches from -------------------------------------------------

Batch = tuple[torch.Tensor, torch.Tensor]


class Part:
    """One part of the data (weight training, architecture validation or test), drawn by index."""

    def __len__(self) -> int:
        raise NotImplementedError

    def take(self, index: torch.Tensor) -> Batch:
        """The samples at ``index`` (positions in this part), on the part's device."""
        raise NotImplementedError

    def head(self, n: int) -> Batch:
        return self.take(torch.arange(min(n, len(self))))

    def chunks(self, size: int) -> Iterator[Batch]:
        """The whole part in order, ``size`` samples at a time (evaluation)."""
        for start in range(0, len(self), size):
            yield self.take(torch.arange(start, min(start + size, len(self))))


@attrs.frozen(eq=False)
class TensorPart(Part):
    """Samples held as tensors on the device: the built-in sources and in-memory arrays."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.x)

    def take(self, index: torch.Tensor) -> Batch:
        return self.x[index], self.y[index]

    def chunks(self, size: int) -> Iterator[Batch]:
        for start in range(0, len(self.x), size):
            yield self.x[start : start + size], self.y[start : start + size]


@attrs.frozen(eq=False)
class DatasetPart(Part):
    """Samples of a ``torch.utils.data.Dataset`` read batch by batch: data larger than memory streams. Only a
    fixed sample was checked before the run, so every label drawn is checked here too."""

    dataset: Any  # indexable: dataset[i] -> (x, label)
    indices: np.ndarray  # positions in ``dataset`` that form this part
    device: torch.device
    classes: int

    def __len__(self) -> int:
        return len(self.indices)

    def take(self, index: torch.Tensor) -> Batch:
        xs, ys = [], []
        for i in index.tolist():
            where = int(self.indices[i])
            x, label = _item(self.dataset, where, "given")
            y = _label_value(label, f"item {where} of the dataset")
            if not 0 <= y < self.classes:
                raise fail(
                    f"item {where} of the dataset has label {y}, outside the {self.classes} classes 0 .. "
                    f"{self.classes - 1} (only a fixed sample of {SAMPLE_CHECK} items was checked before the run)",
                    "<data>",
                    "labels must be class indices 0 .. K-1; give classes= to size the classifier",
                )
            xs.append(torch.as_tensor(x, dtype=torch.float32))
            ys.append(y)
        try:
            x = torch.stack(xs)
        except RuntimeError as exc:
            raise fail(
                f"the dataset's samples differ in shape ({exc})", "<data>", "every sample must have one shape"
            ) from None
        return x.to(self.device), torch.as_tensor(ys, dtype=torch.int64).to(self.device)


@attrs.frozen(eq=False)
class Split:
    """The three parts of a run's data: weights (train), architecture (valid), held-out test."""

    train: Part
    valid: Part
    test: Part
    classes: int
    shape: tuple[int, ...]  # of one sample
    name: str = "data"
    fingerprint: dict[str, Any] = attrs.field(factory=dict)  # what a run records of its data (fingerprint_of)


def _cut(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A permutation fixed by seed, cut at ``share``: positions of the weight part and of the architecture part."""
    order = np.random.default_rng(seed).permutation(n)
    cut = int(round(share * n))
    if cut < 2 or n - cut < 2:
        raise fail(f"split {share} leaves too few samples for one of the parts ({n} in all)", "<data>")
    return order[:cut], order[cut:]


def split_data(
    ds: Dataset, share: float, seed: int, device: torch.device, fingerprint: dict[str, Any] | None = None
) -> Split:
    """Fixed by seed: ``share`` of the training data trains weights, the rest drives the architecture."""
    first, second = _cut(len(ds.x_train), share, seed)

    def part(x: np.ndarray, y: np.ndarray) -> TensorPart:
        return TensorPart(*(torch.from_numpy(np.ascontiguousarray(a)).to(device) for a in (x, y)))

    return Split(
        part(ds.x_train[first], ds.y_train[first]),
        part(ds.x_train[second], ds.y_train[second]),
        part(ds.x_test, ds.y_test),
        ds.classes,
        ds.shape,
        ds.name,
        fingerprint or {},
    )


def _is_dataset(obj: Any) -> bool:
    return isinstance(obj, torch.utils.data.Dataset)


DATA_FORMS = "a source name, arrays (x, y) or (x, y, x_test, y_test), or torch datasets train / (train, test)"
SAMPLE_CHECK = 256  # items of a streamed dataset whose inputs and labels are checked (and hashed) before a run


def _label_value(label: Any, where: str) -> int:
    """One label of a dataset item as a class index: an integer, or a float or tensor holding a whole number."""
    single = isinstance(label, torch.Tensor) and label.numel() == 1
    single = single or (isinstance(label, np.ndarray) and label.size == 1)
    value = label.item() if single else label
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        shown = f"{type(label).__name__} {label!r}"[:80]
        raise fail(
            f"{where}: the label is {shown}, not a class index",
            "<data>",
            "a dataset item must be (input, label) with the label an integer class index 0 .. K-1",
        )
    if not float(value).is_integer():
        raise fail(
            f"{where}: the label {value!r} is fractional; labels must be integer class indices 0 .. K-1", "<data>"
        )
    return int(value)


def _item(ds: Any, index: int, what: str) -> tuple[Any, Any]:
    """``ds[index]`` as (input, label); whatever the dataset raises or returns otherwise, one clear line."""
    try:
        item = ds[index]
    except Exception as exc:  # noqa: BLE001 - a user's dataset: any failure is theirs to see, in one line
        raise fail(f"cannot read item {index} of the {what} dataset: {type(exc).__name__}: {exc}", "<data>") from None
    if not isinstance(item, (tuple, list)) or len(item) != 2:
        raise fail(
            f"item {index} of the {what} dataset is a {type(item).__name__}, not a pair (input, label)",
            "<data>",
            "a dataset item must be (input, label), as torchvision's datasets and TensorDataset give",
        )
    return item[0], item[1]


def _sample_positions(n: int) -> np.ndarray:
    """A fixed sample of up to ``SAMPLE_CHECK`` positions spread over ``n`` items: what is checked and hashed."""
    return np.unique(np.linspace(0, n - 1, min(n, SAMPLE_CHECK)).round().astype(np.int64)) if n else np.arange(0)


def _dataset_labels(ds: Any, what: str, positions: np.ndarray | None = None) -> np.ndarray:
    """Labels of a dataset, each checked: its ``targets`` where it has them (torchvision's: every label, without
    reading the inputs), else those of the items at ``positions`` (None: every item)."""
    targets = getattr(ds, "targets", None)
    try:
        usable = targets is not None and len(targets) == len(ds)
    except TypeError:
        usable = False
    if usable:
        return np.asarray([_label_value(t, f"label {i} of the {what} dataset") for i, t in enumerate(targets)])
    chosen = np.arange(len(ds)) if positions is None else positions
    return np.asarray(
        [_label_value(_item(ds, int(i), what)[1], f"item {int(i)} of the {what} dataset") for i in chosen],
        dtype=np.int64,
    )


def _input_tensor(x: Any, where: str) -> torch.Tensor:
    try:
        t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    except Exception as exc:  # noqa: BLE001 - a user's sample: any failure is theirs to see, in one line
        raise fail(f"{where}: the input is no array of numbers ({type(exc).__name__}: {exc})", "<data>") from None
    if t.is_complex() or t.dtype == torch.bool:
        raise fail(f"{where}: the input is {t.dtype}, not real numbers", "<data>", "convert it to float")
    return t


@attrs.frozen(eq=False)
class Streamed:
    """Torch datasets checked on a fixed sample: read batch by batch once a run draws from them."""

    train: Any
    test: Any  # the held-out dataset; ``train`` itself where a fixed 20% of it is held out
    train_positions: np.ndarray
    test_positions: np.ndarray
    shape: tuple[int, ...]
    classes: int
    fingerprint: dict[str, Any]


def _check_datasets(train: Any, test: Any, kind: str, classes: int | None) -> Streamed:
    """Torch datasets validated before a run directory exists. Lengths, the first sample's shape and the
    labels (every label where the dataset has ``targets`` or no ``classes`` is given, else a fixed sample) are
    checked; the inputs of a fixed sample of ``SAMPLE_CHECK`` items are checked and hashed, not every item."""
    sizes = []
    for what, ds in (("training", train), ("test", test)):
        if ds is None:
            continue
        try:
            sizes.append(len(ds))
        except TypeError:
            raise fail(
                f"the {what} dataset has no length (an IterableDataset?)",
                "<data>",
                "dasdsl draws batches by index: give a map-style dataset (with __len__ and __getitem__)",
            ) from None
    first_x = _input_tensor(_item(train, 0, "training")[0], "item 0 of the training dataset") if sizes[0] else None
    if first_x is None:
        raise fail("the training dataset is empty", "<data>")
    rank = {"image": 3, "sequence": 2, "vector": 1}[kind]
    if first_x.dim() != rank:
        raise fail(
            f"the dataset's samples have shape {tuple(first_x.shape)}, but the space's input is {kind}",
            "<data>",
            "a sample must be (C, H, W) for image, (C, L) for sequence, (F,) for vector spaces",
        )
    shape = tuple(first_x.shape)
    if test is None:
        train_positions, test_positions = _holdout_order(sizes[0])
        test = train
    else:
        train_positions, test_positions = np.arange(sizes[0]), np.arange(sizes[1])
    if len(test_positions) == 0:
        raise fail("the test dataset is empty", "<data>")
    if len(train_positions) < 4:
        raise fail(f"the training dataset has only {len(train_positions)} samples", "<data>")
    digest = hashlib.sha256()
    checked: dict[str, np.ndarray] = {}
    for what, ds, positions in (("training", train, train_positions), ("test", test, test_positions)):
        sample = positions[_sample_positions(len(positions))]
        labels = []
        for i in sample.tolist():
            x, label = _item(ds, i, what)
            where = f"item {i} of the {what} dataset"
            t = _input_tensor(x, where)
            if tuple(t.shape) != shape:
                raise fail(
                    f"{where} has shape {tuple(t.shape)}, but item 0 has {shape}; every sample must have one shape",
                    "<data>",
                )
            t = t.to(torch.float32)
            if not torch.isfinite(t).all():
                raise fail(f"{where}: the input contains NaN or infinite values", "<data>")
            labels.append(_label_value(label, where))
            digest.update(t.contiguous().numpy().tobytes())
        digest.update(np.asarray(labels, dtype=np.int64).tobytes())
        checked[what] = np.asarray(labels, dtype=np.int64)
    # every label where that is cheap (``targets``) or needed (no ``classes`` given: the class count)
    every = classes is None or getattr(train, "targets", None) is not None
    if every:
        y = _dataset_labels(train, "training")
        y = y[train_positions] if test is train else y
        y_test = _dataset_labels(test, "test")[test_positions] if test is train else _dataset_labels(test, "test")
    else:
        y, y_test = checked["training"], checked["test"]
    found = _classes_of("datasets", y, y_test, stacklevel=4)
    if classes is not None:
        if classes < found:
            raise fail(
                f"data: labels run up to {found - 1}, but classes = {classes}",
                "<data>",
                f"give classes={found} or more",
            )
        found = classes
    fingerprint = {
        "source": "datasets",
        "samples": len(train_positions),
        "test_samples": len(test_positions),
        "shape": list(shape),
        "classes": found,
        "sha256": digest.hexdigest(),
        "hashed": f"{SAMPLE_CHECK} items at most",
    }
    return Streamed(train, test, train_positions, test_positions, shape, found, fingerprint)


def fingerprint_of(ds: Dataset, source: str) -> dict[str, Any]:
    """What a run records of the data it searched: its source, sizes, shape, classes and a content hash."""
    digest = hashlib.sha256()
    for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test):
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(memoryview(a).cast("B"))
    return {
        "source": source,
        "samples": len(ds.x_train),
        "test_samples": len(ds.x_test),
        "shape": list(ds.shape),
        "classes": ds.classes,
        "sha256": digest.hexdigest(),
    }


def _forms(data: Any) -> tuple[Any, ...]:
    """The parts of the caller's ``data=``, its form checked: (x, y), (x, y, x_test, y_test), datasets."""
    loader = torch.utils.data.DataLoader
    parts = tuple(data) if isinstance(data, (tuple, list)) else (data,)
    if any(isinstance(p, loader) for p in parts):
        pair = len(parts) == 2
        raise fail(
            f"data: a DataLoader{' pair' if pair else ''} is not data dasdsl can draw its own batches from",
            "<data>",
            "pass the dataset behind it: "
            + ("data=(train_loader.dataset, test_loader.dataset)" if pair else "data=loader.dataset")
            + " (dasdsl batches, shuffles and splits it by the run's batch, seed and split settings)",
        )
    datasets = [_is_dataset(p) for p in parts]
    if any(datasets):
        if not all(datasets) or len(parts) > 2:
            raise fail(
                f"data: {len(parts)} items mixing torch datasets and other things",
                "<data>",
                f"data must be {DATA_FORMS}",
            )
        return parts
    if isinstance(data, (dict, set, str, bytes)) or len(parts) not in (2, 4):
        what = f"a {type(data).__name__}" + (f" of {len(parts)} items" if isinstance(data, (tuple, list)) else "")
        raise fail(f"data: got {what}", "<data>", f"data must be {DATA_FORMS}")
    return parts


def _as_array(part: Any, name: str) -> np.ndarray:
    """One of the caller's arrays (numpy, torch or nested lists) as numpy, refused clearly where it is none."""
    if isinstance(part, torch.Tensor):
        return part.detach().cpu().numpy()
    try:
        arr = np.asarray(part)
    except ValueError:  # numpy refuses lists whose rows differ in length
        raise fail(
            f"data: {name} is ragged: its samples differ in shape", "<data>", "give samples of one shape"
        ) from None
    if arr.ndim == 0:
        raise fail(f"data: {name} is a single {type(part).__name__} ({part!r}), not an array of samples", "<data>")
    if arr.dtype == object:
        raise fail(f"data: {name} holds Python objects, not numbers (samples of different shapes?)", "<data>")
    return arr


def _user_data(data: Any, kind: str, classes: int | None) -> Dataset | Streamed:
    """The caller's ``data=`` validated, whatever its form: the one check every verb of the API runs."""
    parts = _forms(data)
    if _is_dataset(parts[0]):
        return _check_datasets(parts[0], parts[1] if len(parts) == 2 else None, kind, classes)
    names = ("x", "y") if len(parts) == 2 else ("x", "y", "x_test", "y_test")
    arrays = [_as_array(p, n) for p, n in zip(parts, names)]
    for xs, ys, what in zip(arrays[::2], arrays[1::2], ("training " if len(arrays) == 4 else "", "test ")):
        if len(xs) != len(ys):
            raise fail(f"data: {len(xs)} {what}inputs but {len(ys)} labels", "<data>", "give one label per sample")
    if len(arrays) == 2:
        arrays = list(_holdout(arrays[0], arrays[1]))
    ds = _validated("arrays", *arrays, kind)
    if classes is not None and classes < ds.classes:
        raise fail(
            f"data: labels run up to {ds.classes - 1}, but classes = {classes}",
            "<data>",
            f"give classes={ds.classes} or more",
        )
    return attrs.evolve(ds, classes=classes or ds.classes)


def user_split(
    data: Any, kind: str, share: float, seed: int, device: torch.device, classes: int | None = None
) -> Split:
    """The Python API's ``data=``: arrays ``(x, y)`` or ``(x, y, x_test, y_test)`` (numpy or torch),
    or torch datasets ``train`` / ``(train, test)``, validated like a built-in source before anything is written."""
    given = _user_data(data, kind, classes)
    if isinstance(given, Dataset):
        return split_data(given, share, seed, device, fingerprint_of(given, "arrays"))
    first, second = _cut(len(given.train_positions), share, seed)
    return Split(
        DatasetPart(given.train, given.train_positions[first], device, given.classes),
        DatasetPart(given.train, given.train_positions[second], device, given.classes),
        DatasetPart(given.test, given.test_positions, device, given.classes),
        given.classes,
        given.shape,
        type(given.train).__name__,
        given.fingerprint,
    )


def source_split(spec: Any, kind: str, share: float, seed: int, device: torch.device) -> Split:
    """A built-in source (or npz file) loaded, validated and split, with its fingerprint."""
    ds = load(spec, kind)
    return split_data(ds, share, seed, device, fingerprint_of(ds, spec_text(spec)))


def shape_and_classes(data: Any, kind: str, classes: int | None = None) -> tuple[tuple[int, ...], int]:
    """Input shape and class count of any form of ``data=`` (a source, arrays, datasets), validated."""
    if is_source(data):
        ds = load(data, kind)
        return ds.shape, classes or ds.classes
    given = _user_data(data, kind, classes)
    return tuple(given.shape), given.classes


# ---- what a run directory records of its data ------------------------------------------------------

_FORMS = {"arrays": "the caller's arrays", "datasets": "the caller's torch datasets"}


def callers_form(fingerprint: Any, spec: Any) -> str | None:
    """ "arrays" or "datasets" where a run searched data given from Python (which its directory does not hold),
    else None. Runs written before data fingerprints are told by their ``data`` setting: no source's name."""
    if isinstance(fingerprint, dict) and fingerprint.get("source") in _FORMS:
        return str(fingerprint["source"])
    if isinstance(fingerprint, dict) and fingerprint:
        return None
    try:
        name, path = parse_spec(spec)
    except DasError:
        return "arrays"
    known = name in SOURCES_BY_NAME or (path is None and name.lower().endswith(".npz"))
    return None if known else ("arrays" if name == "arrays" else "datasets")


def _what(fp: dict[str, Any]) -> str:
    source = str(fp.get("source"))
    return _FORMS.get(source, f"the data source '{source}'")


def _samples(fp: dict[str, Any]) -> str:
    shape = tuple(fp.get("shape") or ())
    return f"{fp.get('samples')} training and {fp.get('test_samples')} test samples of shape {shape}"


def data_difference(saved: Any, now: dict[str, Any], did: str = "searched") -> str | None:
    """How ``now`` differs from the data fingerprint a run recorded, in words; None where it is the same data or
    the run recorded none (written before data fingerprints: unknown, accepted). ``did``: what the run did with
    its data ("searched", "trained on")."""
    if not isinstance(saved, dict) or not saved or not now:
        return None
    if saved.get("source") != now.get("source"):
        return f"the run {did} {_what(saved)}; this data is {_what(now)}"
    for key in ("samples", "test_samples", "shape"):
        if saved.get(key) != now.get(key):
            return f"the run {did} {_samples(saved)}; this data has {_samples(now)}"
    if saved.get("classes") != now.get("classes"):
        return f"the run {did} data of {saved.get('classes')} classes; this data has {now.get('classes')}"
    if saved.get("sha256") != now.get("sha256"):
        sampled = " (in a fixed sample of the items)" if now.get("hashed") else ""
        return (
            f"the run {did} other samples: the same number ({_samples(saved)}) and classes, but other values{sampled}"
        )
    return None


def recorded_shape(fingerprint: Any) -> tuple[tuple[int, ...], int] | None:
    """The input shape and classes a run recorded of its data, or None (a run from before data fingerprints)."""
    if not isinstance(fingerprint, dict):
        return None
    shape, classes = fingerprint.get("shape"), fingerprint.get("classes")
    ok_shape = isinstance(shape, list) and shape and all(type(s) is int and s > 0 for s in shape)
    if not ok_shape or type(classes) is not int or classes < 1:
        return None
    return tuple(shape), classes


def run_shape(config: Any, run_dir: Any) -> tuple[tuple[int, ...], int] | None:
    """The input shape and classes a run's config.json records of its data (its ``data_fingerprint``), so that a
    picture or report of the run needs no data; None for a run from before data fingerprints that searched a
    source (which loads again). Such a run on the caller's own data cannot be drawn without being told the shape."""
    config = config if isinstance(config, dict) else {}
    recorded = recorded_shape(config.get("data_fingerprint"))
    if recorded is not None:
        return recorded
    search = config.get("search")
    spec = search.get("data") if isinstance(search, dict) else None
    if spec is not None and callers_form(None, spec) is not None:
        raise fail(
            f"{run_dir} searched data given from Python ({spec}), which the run directory does not hold and the "
            "command line cannot load again",
            "<data>",
            "give the input shape and classes (--input-shape and --classes; input_shape= and classes= in Python), "
            "or pass the same data (data=) from Python",
        )
    return None
