"""The output transforms (sigmoid, softmax) of LightGBM and XGBoost classifiers, computed as
their own C++ computes them, so the compiled predictor's probabilities are the same numbers.

Both libraries call the C library's ``exp`` (LightGBM, in float64) and ``expf`` (XGBoost, in
float32). numpy's ``exp`` is its own vectorised approximation: measured here on 20 million
arguments it differed from the C library's in the last bit on 4.6% of float64 and 36% of
float32 ones (up to 2 ulps). So these transforms call the C library's functions, in the order of
operations of LightGBM 4 (``BinaryLogloss::ConvertOutput``, ``Common::Softmax``) and XGBoost 3
(``common::Sigmoid``, ``common::Softmax``):

- LightGBM binary: ``1.0 / (1.0 + exp(-sigmoid * raw))`` in float64;
- LightGBM multiclass: ``exp(raw - max)`` each, summed from 0.0 in class order, each divided by
  the sum, in float64;
- XGBoost ``binary:logistic``: ``1.0f / (expf(min(-margin, 88.7f)) + 1.0f + 1e-16f)`` in float32;
- XGBoost ``multi:softprob``: ``expf(margin - max)`` in float32, summed in a float64 in class
  order, each divided by that sum rounded to float32.

The generated-C form (compiled once, linked with the C library's libm, cached as the trees are,
and built into an image beside the model as the trees' library is) serves when a compiler, a
cached library or the image's copy is there; otherwise the same formulas run in Python,
calling ``exp`` and ``expf`` through ``math`` and ctypes (a few microseconds a row). Either way
the start-up check compares the probabilities with the model's own bit for bit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

SOURCE = """/* mlrelease-links-1: LightGBM's and XGBoost's output transforms */
float expf(float);
double exp(double);

__attribute__((visibility("default")))
void lgb_sigmoid(double *p, long n, double scale) {
  for (long i = 0; i < n; ++i) p[i] = 1.0 / (1.0 + exp(-scale * p[i]));
}

__attribute__((visibility("default")))
void lgb_softmax(double *p, long n, long k) {
  for (long r = 0; r < n; ++r) {
    double *q = p + r * k;
    double wmax = q[0];
    for (long j = 1; j < k; ++j) wmax = q[j] > wmax ? q[j] : wmax;
    double wsum = 0.0;
    for (long j = 0; j < k; ++j) { q[j] = exp(q[j] - wmax); wsum += q[j]; }
    for (long j = 0; j < k; ++j) q[j] /= wsum;
  }
}

__attribute__((visibility("default")))
void xgb_sigmoid(float *p, long n) {
  const float eps = (float)1e-16;
  for (long i = 0; i < n; ++i) {
    float x = -p[i];
    if (88.7f < x) x = 88.7f;
    float denom = expf(x) + 1.0f + eps;
    p[i] = 1.0f / denom;
  }
}

__attribute__((visibility("default")))
void xgb_softmax(float *p, long n, long k) {
  for (long r = 0; r < n; ++r) {
    float *q = p + r * k;
    float wmax = q[0];
    for (long j = 1; j < k; ++j) wmax = q[j] > wmax ? q[j] : wmax;
    double wsum = 0.0;
    for (long j = 0; j < k; ++j) { q[j] = expf(q[j] - wmax); wsum += q[j]; }
    for (long j = 0; j < k; ++j) q[j] /= (float)wsum;
  }
}
"""


class Links(Protocol):
    """The four transforms; each takes the raw sums and returns new arrays."""

    def lgb_sigmoid(self, raw: np.ndarray, scale: float) -> np.ndarray: ...
    def lgb_softmax(self, raw: np.ndarray) -> np.ndarray: ...
    def xgb_sigmoid(self, margin: np.ndarray) -> np.ndarray: ...
    def xgb_softmax(self, margin: np.ndarray) -> np.ndarray: ...


class NativeLinks:
    """The transforms in generated C, called through ctypes on whole arrays."""

    def __init__(self, path: Path):
        self.path = path
        self._lib = library = ctypes.CDLL(str(path))
        ptr, n = ctypes.c_void_p, ctypes.c_long
        for name, args in (
            ("lgb_sigmoid", [ptr, n, ctypes.c_double]),
            ("lgb_softmax", [ptr, n, n]),
            ("xgb_sigmoid", [ptr, n]),
            ("xgb_softmax", [ptr, n, n]),
        ):
            fn = getattr(library, name)
            fn.argtypes, fn.restype = args, None

    def lgb_sigmoid(self, raw: np.ndarray, scale: float) -> np.ndarray:
        out = np.array(raw, dtype=np.float64, order="C")
        self._lib.lgb_sigmoid(out.ctypes.data, out.size, scale)
        return out

    def lgb_softmax(self, raw: np.ndarray) -> np.ndarray:
        out = np.array(raw, dtype=np.float64, order="C")
        self._lib.lgb_softmax(out.ctypes.data, out.shape[0], out.shape[1])
        return out

    def xgb_sigmoid(self, margin: np.ndarray) -> np.ndarray:
        out = np.array(margin, dtype=np.float32, order="C")
        self._lib.xgb_sigmoid(out.ctypes.data, out.size)
        return out

    def xgb_softmax(self, margin: np.ndarray) -> np.ndarray:
        out = np.array(margin, dtype=np.float32, order="C")
        self._lib.xgb_softmax(out.ctypes.data, out.shape[0], out.shape[1])
        return out


class PythonLinks:
    """The same formulas with numpy's float32/float64 arithmetic (exactly rounded) around the C
    library's ``exp`` (``math.exp``) and ``expf`` (through ctypes), one element at a time."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("m")
        if name is None:
            raise OSError("no C math library (libm) to take expf from")
        expf = ctypes.CDLL(name).expf
        expf.argtypes, expf.restype = [ctypes.c_float], ctypes.c_float
        self._expf = expf

    def _expf_all(self, x: np.ndarray) -> np.ndarray:
        flat = [self._expf(v) for v in np.asarray(x, dtype=np.float32).ravel().tolist()]
        return np.asarray(flat, dtype=np.float32).reshape(np.shape(x))

    def lgb_sigmoid(self, raw: np.ndarray, scale: float) -> np.ndarray:
        flat = np.asarray(raw, dtype=np.float64)
        out = [1.0 / (1.0 + math.exp(-scale * v)) for v in flat.ravel().tolist()]
        return np.asarray(out, dtype=np.float64).reshape(flat.shape)

    def lgb_softmax(self, raw: np.ndarray) -> np.ndarray:
        rows = np.asarray(raw, dtype=np.float64)
        out = np.empty_like(rows)
        for r, row in enumerate(rows.tolist()):
            wmax = max(row)
            terms = [math.exp(v - wmax) for v in row]
            wsum = 0.0
            for t in terms:
                wsum += t
            out[r] = [t / wsum for t in terms]
        return out

    def xgb_sigmoid(self, margin: np.ndarray) -> np.ndarray:
        x = np.minimum(-np.asarray(margin, dtype=np.float32), np.float32(88.7))
        denom = self._expf_all(x) + np.float32(1.0) + np.float32(1e-16)
        return np.asarray(np.float32(1.0) / denom, dtype=np.float32)

    def xgb_softmax(self, margin: np.ndarray) -> np.ndarray:
        q = np.asarray(margin, dtype=np.float32)
        terms = self._expf_all(q - q.max(axis=1, keepdims=True))
        # the float64 sum in class order: cumsum adds strictly left to right
        wsum = np.cumsum(terms.astype(np.float64), axis=1)[:, -1:]
        return np.asarray(terms / wsum.astype(np.float32), dtype=np.float32)


def logf(x: float) -> float:
    """The C library's float32 logarithm (XGBoost's base margin of a logistic model)."""
    name = ctypes.util.find_library("m")
    if name is None:
        raise OSError("no C math library (libm) to take logf from")
    fn = ctypes.CDLL(name).logf
    fn.argtypes, fn.restype = [ctypes.c_float], ctypes.c_float
    return float(fn(x))


class _Chosen:
    """The transforms in use: found or built once, or taken from an image's prebuilt folder."""

    links: Links | None = None


def build(directory: Path) -> Path:
    """The transforms compiled into ``directory`` (an image carries them beside the model)."""
    from mlrelease.serve.native import compile_source

    return compile_source(SOURCE, directory, ["-lm"])


def prefer(prebuilt: Sequence[Path]) -> Links:
    """Use the library in a ``prebuilt`` folder when one is there; the transforms in use."""
    from mlrelease.serve.native import library_name

    for folder in prebuilt:
        path = folder / library_name(SOURCE)
        if path.exists():
            try:
                _Chosen.links = NativeLinks(path)
                break
            except OSError:
                continue
    return links()


def links() -> Links:
    """The generated-C transforms when they can be built or found in the cache, else Python's."""
    from mlrelease.serve.native import NoNativeCode, cache_dir

    if _Chosen.links is None:
        try:
            _Chosen.links = NativeLinks(build(cache_dir()))
        except (NoNativeCode, OSError):
            _Chosen.links = PythonLinks()
    return _Chosen.links
