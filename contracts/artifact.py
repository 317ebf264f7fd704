"""The model artifact: a versioned folder written by training and read by streaming (and the dashboard).

Layout (``model_dir`` is ``Settings.model_dir``, default ``models/``)::

    models/<version>/model.joblib     a scorer: calibrated risk + SHAP of the margin in plain numpy (no
                                      SparkSession needed)
    models/<version>/metadata.json    features, FEATURE_VERSION, epoch_ms, horizon, cutoffs, data window,
                                      fingerprint, library versions, SHAP expected value, global importance
    models/<version>/metrics.json     selected model's metrics (+ backtest, baselines, candidates)
    models/<version>/reference.json   drift reference (``contracts.drift.DriftReference``): per model feature,
                                      decile bin edges and shares of the training snapshots; the same for
                                      the predicted risk on the test snapshots. Optional: an artifact
                                      without it loads with ``reference`` None (no drift monitoring)
    models/<version>/model_card.md    plus plots (*.png)
    models/latest                     text file holding the current version, replaced atomically

``version`` is a UTC timestamp plus a short hash, so versions sort by time. A folder appears complete or
not at all (written under a temporary name, then renamed), and ``latest`` moves with ``os.replace``, so a
reader polling it never sees a half-written model.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd
from threadpoolctl import ThreadpoolController

from contracts.drift import DriftReference
from contracts.features import FEATURE_NAMES, FEATURE_VERSION
from contracts.tree_shap import TableExplainer

LATEST = "latest"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "model_card.md"
REFERENCE_FILE = "reference.json"
#: Keys every metrics block carries (the one list: training's metrics, intervals and card use it), with the
#: card's column heading of each. ``ece``: expected calibration error over 10 equal-count bins.
METRIC_LABELS: dict[str, str] = {"f1": "F1", "precision": "precision", "recall": "recall",
                                 "average_precision": "AP", "auroc": "AUROC", "brier": "Brier",
                                 "log_loss": "log loss", "ece": "ECE", "top_decile_lift": "top-decile lift"}
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_LABELS)
#: The figures given a 95% interval (``<key>_ci`` = [low, high] beside the figure in metrics.json).
CI_KEYS: tuple[str, ...] = ("auroc", "average_precision", "f1", "brier", "top_decile_lift")


class ArtifactError(Exception):
    """The artifact is missing, incomplete or incompatible; the message is one line."""


# ------------------------------------------------------------------------------------------------- scorers

_threadpools: ThreadpoolController | None = None


def one_thread():
    """A context in which the native thread pools (OpenMP in scikit-learn's trees, BLAS) use one thread.

    A scorer runs in a Spark task or on the streaming driver, next to Spark's own threads on the same cores: there,
    OpenMP's extra threads wait for cores the JVM holds (spinning), and a prediction took over ten times as long as
    on one thread (docs/benchmarks.md). The controller is made on first use, once the libraries are loaded.
    """
    global _threadpools
    if _threadpools is None:
        _threadpools = ThreadpoolController()
    return _threadpools.limit(limits=1)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -500, 500)))


class LinearScorer:
    """A logistic model on raw feature values; SHAP of a linear model is exact: w_j * (x_j - mean_j)."""

    kind = "linear"

    def __init__(self, coef: np.ndarray, intercept: float, background_mean: np.ndarray):
        self.coef = np.asarray(coef, dtype="float64").ravel()
        self.intercept = float(intercept)
        self.background_mean = np.asarray(background_mean, dtype="float64").ravel()

    @property
    def expected_value(self) -> float:
        return float(self.intercept + self.coef @ self.background_mean)

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The log-odds the SHAP values add up to (with ``expected_value``)."""
        return X @ self.coef + self.intercept

    def explain(self, X: np.ndarray) -> np.ndarray:
        return (X - self.background_mean) * self.coef

    def predict_and_explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return _sigmoid(self.margin(X)), self.explain(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(self.margin(X))


class TreeScorer:
    """A tree ensemble (scikit-learn HistGradientBoosting, or MLlib GBT trees exported to shap's dictionary
    form, see ``training.spark_trees``) + exact tree SHAP, path dependent.

    SHAP values come from per-tree lookup tables (:mod:`contracts.tree_shap`) when the trees are small enough,
    and from shap's ``TreeExplainer`` otherwise; both give the same values. The explainers are built lazily
    once per process (an executor keeps them with the cached artifact) and are never pickled: only the model
    travels.
    """

    kind = "tree"

    def __init__(self, model: Any):
        self.model = model
        self._explainer = None

    def __getstate__(self) -> dict:
        return {"model": self.model}

    def __setstate__(self, state: dict) -> None:
        self.model = state["model"]
        self._explainer = None

    @property
    def explainer(self):
        if self._explainer is None:
            import shap

            self._explainer = shap.TreeExplainer(self.model, feature_perturbation="tree_path_dependent")
        return self._explainer

    @property
    def expected_value(self) -> float:
        return float(np.ravel(self.explainer.expected_value)[-1])

    def margin(self, X: np.ndarray) -> np.ndarray:
        """The log-odds the SHAP values add up to (with ``expected_value``)."""
        if isinstance(self.model, dict):
            return np.asarray(self.explainer.model.predict(X), dtype="float64").ravel()
        return np.asarray(self.model.decision_function(X), dtype="float64").ravel()

    def predict(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.model, dict):
            return _sigmoid(self.margin(X))
        return self.model.predict_proba(X)[:, 1]

    @cached_property
    def tables(self) -> TableExplainer | None:
        """The lookup-table explainer, or ``None`` when the model's trees are too large for tables (built on first
        use; not pickled, as ``__getstate__`` keeps only the model)."""
        return TableExplainer.for_model(self.model)

    def explain(self, X: np.ndarray) -> np.ndarray:
        """SHAP values in the margin (log-odds), one row per row of ``X``."""
        if self.tables is not None:
            return self.tables.shap_values(X)
        values = self.explainer.shap_values(X, check_additivity=False)
        if isinstance(values, list):
            values = values[-1]
        values = np.asarray(values, dtype="float64")
        return values[:, :, -1] if values.ndim == 3 else values

    def predict_and_explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.predict(X), self.explain(X)


class Calibrator:
    """A monotone map from a model's margin (log-odds) to a calibrated probability, fitted by training on
    out-of-fold predictions: ``isotonic`` (piecewise linear through the fitted steps, clipped at the ends)
    or ``sigmoid`` (Platt: sigmoid(a * margin + b)). Non-decreasing in the margin, so the SHAP values of the
    margin still order and explain the risk."""

    def __init__(self, method: str, x: np.ndarray | None = None, y: np.ndarray | None = None,
                 a: float = 1.0, b: float = 0.0):
        if method not in ("isotonic", "sigmoid"):
            raise ValueError(f"unknown calibration method {method!r}")
        self.method = method
        self.x = None if x is None else np.asarray(x, dtype="float64")
        self.y = None if y is None else np.asarray(y, dtype="float64")
        self.a, self.b = float(a), float(b)

    def __call__(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, dtype="float64")
        if self.method == "isotonic":
            return np.interp(margin, self.x, self.y)
        return _sigmoid(self.a * margin + self.b)

    def describe(self) -> dict:
        if self.method == "isotonic":
            return {"method": "isotonic", "steps": int(len(self.x))}
        return {"method": "sigmoid", "a": self.a, "b": self.b}


class CalibratedScorer:
    """A scorer (``LinearScorer`` or ``TreeScorer``) whose risk goes through a :class:`Calibrator`.

    SHAP values stay those of the base model's margin (they add up to it with ``expected_value``); the risk
    is the calibrated probability, a non-decreasing function of that margin.
    """

    def __init__(self, base: Any, calibrator: Calibrator):
        self.base = base
        self.calibrator = calibrator

    @property
    def kind(self) -> str:
        return self.base.kind

    @property
    def expected_value(self) -> float:
        return self.base.expected_value

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.base.margin(X)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator(self.base.margin(X))

    def predict_and_explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.calibrator(self.base.margin(X)), self.base.explain(X)


# ------------------------------------------------------------------------------------------------- artifact

@dataclass
class ModelArtifact:
    version: str
    path: Path
    threshold: float
    feature_names: tuple[str, ...]
    feature_version: str
    epoch_ms: int
    horizon_days: float
    metrics: dict
    global_importance: dict
    metadata: dict = field(default_factory=dict, repr=False)
    scorer: Any = field(default=None, repr=False)
    #: Drift reference distributions, None for an artifact saved without one (older versions).
    reference: DriftReference | None = field(default=None, repr=False)

    def predict_and_explain(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(risk probability [n], SHAP contributions to the margin in log-odds [n, n_features]) for rows ``X``."""
        matrix = X[list(self.feature_names)].to_numpy(dtype="float64") if isinstance(X, pd.DataFrame) \
            else np.asarray(X, dtype="float64")
        if len(matrix) == 0:
            return np.zeros(0), np.zeros((0, len(self.feature_names)))
        with one_thread():
            risk, shap_values = self.scorer.predict_and_explain(matrix)
        return np.asarray(risk, dtype="float64"), np.asarray(shap_values, dtype="float64")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk only (no SHAP): for evaluation and the refresh."""
        matrix = X[list(self.feature_names)].to_numpy(dtype="float64")
        with one_thread():
            return np.asarray(self.scorer.predict(matrix), dtype="float64")

    @property
    def card_path(self) -> Path:
        return self.path / CARD_FILE


def latest_version(model_dir: str | Path) -> str | None:
    """The version ``latest`` points to, or None; cheap enough to poll every micro-batch."""
    try:
        text = (Path(model_dir) / LATEST).read_text(encoding="utf-8").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    return text or None


def load_artifact(model_dir: str | Path, version: str = LATEST) -> ModelArtifact:
    """Load a model version (default: the one ``latest`` points to); refuse a different feature definition."""
    import joblib

    model_dir = Path(model_dir)
    if version == LATEST:
        resolved = latest_version(model_dir)
        if resolved is None:
            raise ArtifactError(f"no model in {model_dir}/ (no '{LATEST}' pointer): train one with python -m training")
        version = resolved
    path = model_dir / version
    try:
        meta = json.loads((path / METADATA_FILE).read_text(encoding="utf-8"))
        metrics = json.loads((path / METRICS_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"model {version} in {model_dir} is incomplete: {Path(exc.filename).name} missing") from None
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"model {version} in {model_dir} is unreadable: {str(exc).splitlines()[0]}") from None
    if meta.get("feature_version") != FEATURE_VERSION:
        raise ArtifactError(f"model {version} was trained on feature version {meta.get('feature_version')!r}, "
                            f"this code computes version {FEATURE_VERSION!r}: retrain with python -m training")
    names = tuple(meta.get("feature_names") or ())
    unknown = [n for n in names if n not in FEATURE_NAMES]
    if not names or unknown:
        raise ArtifactError(f"model {version} uses unknown features {unknown[:3]}: retrain with python -m training")
    try:
        scorer = joblib.load(path / MODEL_FILE)
    except FileNotFoundError:
        raise ArtifactError(f"model {version} in {model_dir} is incomplete: {MODEL_FILE} missing") from None
    except Exception as exc:  # unpickling errors come in many types
        raise ArtifactError(f"model {version} in {model_dir} cannot be loaded: {type(exc).__name__}") from None
    reference = _load_reference(path, version, model_dir)
    return ModelArtifact(version=version, path=path, threshold=float(meta["threshold"]), feature_names=names,
                         feature_version=meta["feature_version"], epoch_ms=int(meta["epoch_ms"]),
                         horizon_days=float(meta["horizon_days"]), metrics=metrics,
                         global_importance=dict(meta.get("global_importance") or {}), metadata=meta, scorer=scorer,
                         reference=reference)


def _load_reference(path: Path, version: str, model_dir: Path) -> DriftReference | None:
    """The version's drift reference, or None when it has none (saved before references, or without one)."""
    try:
        data = json.loads((path / REFERENCE_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as exc:
        raise ArtifactError(f"model {version} in {model_dir}: {REFERENCE_FILE} is unreadable: "
                            f"{str(exc).splitlines()[0]}") from None
    try:
        return DriftReference.from_json(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"model {version} in {model_dir}: {REFERENCE_FILE} is malformed "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})") from None


def new_version(fingerprint: str = "", now: float | None = None) -> str:
    """UTC timestamp + short hash, e.g. ``20181203T120000Z-1a2b3c``; sorts by time."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    digest = hashlib.sha256(f"{fingerprint}|{now!r}|{os.getpid()}".encode()).hexdigest()[:6]
    return f"{stamp}-{digest}"


def library_versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for lib in ("numpy", "pandas", "scikit-learn", "shap", "pyspark", "joblib"):
        try:
            out[lib] = md.version(lib)
        except md.PackageNotFoundError:
            pass
    return out


def write_latest(model_dir: str | Path, version: str) -> None:
    """Point ``latest`` at ``version`` atomically (temp file in the same folder + ``os.replace``)."""
    model_dir = Path(model_dir)
    fd, tmp = tempfile.mkstemp(prefix=".latest-", dir=model_dir)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(version + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, model_dir / LATEST)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_artifact(model_dir: str | Path, scorer: Any, *, threshold: float, feature_names: tuple[str, ...] | list[str],
                  epoch_ms: int, horizon_days: float, metrics: Mapping[str, Any], metadata: Mapping[str, Any],
                  global_importance: Mapping[str, float], plots: Mapping[str, Any] | None = None,
                  model_card: str = "", fingerprint: str = "", make_latest: bool = True,
                  version: str | None = None, reference: DriftReference | None = None) -> ModelArtifact:
    """Write a complete version folder, then (optionally) move ``latest`` to it; returns the loaded artifact.

    ``plots`` maps a file name (``roc.png``) to a matplotlib Figure. Every file (model, metadata, metrics,
    card, plots) is written under a hidden temporary name, which is renamed only when all are there: a
    version folder appears complete or not at all, and a failure leaves no temporary folder behind.
    ``version`` defaults to :func:`new_version` (pass one to put it in the card before saving).
    ``reference`` (drift reference distributions) is written as ``reference.json`` when given.
    """
    import shutil

    import joblib

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    version = version or new_version(fingerprint)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_dir))
    meta = {**dict(metadata), "version": version, "threshold": float(threshold),
            "feature_names": list(feature_names), "feature_version": FEATURE_VERSION, "epoch_ms": int(epoch_ms),
            "horizon_days": float(horizon_days), "global_importance": {k: float(v) for k, v in global_importance.items()},
            "libraries": library_versions(), "fingerprint": fingerprint, "model_kind": getattr(scorer, "kind", "")}
    try:
        joblib.dump(scorer, tmp / MODEL_FILE)
        (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=_json_default), encoding="utf-8")
        (tmp / METRICS_FILE).write_text(json.dumps(dict(metrics), indent=2, default=_json_default), encoding="utf-8")
        (tmp / CARD_FILE).write_text(model_card or f"# Model {version}\n", encoding="utf-8")
        if reference is not None:
            (tmp / REFERENCE_FILE).write_text(json.dumps(reference.to_json()), encoding="utf-8")
        for name, fig in (plots or {}).items():
            fig.savefig(tmp / name, dpi=110, bbox_inches="tight")
        os.replace(tmp, model_dir / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if make_latest:
        write_latest(model_dir, version)
    return load_artifact(model_dir, version)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
