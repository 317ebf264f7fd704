"""The model artifact: a versioned folder written by training and read by streaming (and the dashboard).

Layout (``model_dir`` is ``Settings.model_dir``, default ``models/``)::

    models/<version>/model.joblib     a scorer: risk + SHAP in plain numpy (no SparkSession needed)
    models/<version>/metadata.json    features, FEATURE_VERSION, epoch_ms, horizon, cutoffs, data window,
                                      fingerprint, library versions, SHAP expected value, global importance
    models/<version>/metrics.json     selected model's metrics (+ backtest, baselines, candidates)
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
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from contracts.features import FEATURE_NAMES, FEATURE_VERSION

LATEST = "latest"
MODEL_FILE = "model.joblib"
METADATA_FILE = "metadata.json"
METRICS_FILE = "metrics.json"
CARD_FILE = "model_card.md"
#: Keys every metrics block carries.
METRIC_KEYS: tuple[str, ...] = ("f1", "precision", "recall", "average_precision", "auroc", "brier", "top_decile_lift")


class ArtifactError(Exception):
    """The artifact is missing, incomplete or incompatible; the message is one line."""


# ------------------------------------------------------------------------------------------------- scorers

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

    def predict_and_explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        logit = X @ self.coef + self.intercept
        return _sigmoid(logit), (X - self.background_mean) * self.coef

    def predict(self, X: np.ndarray) -> np.ndarray:
        return _sigmoid(X @ self.coef + self.intercept)


class TreeScorer:
    """A tree ensemble (scikit-learn HistGradientBoosting, or converted MLlib GBT trees) + SHAP TreeExplainer.

    The explainer is built lazily once per process (an executor keeps it with the cached artifact) and is
    never pickled: only the model travels.
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

    def predict(self, X: np.ndarray) -> np.ndarray:
        if isinstance(self.model, dict):
            return _sigmoid(self.explainer.model.predict(X))
        return self.model.predict_proba(X)[:, 1]

    def predict_and_explain(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        values = self.explainer.shap_values(X, check_additivity=False)
        if isinstance(values, list):
            values = values[-1]
        values = np.asarray(values, dtype="float64")
        if values.ndim == 3:
            values = values[:, :, -1]
        return self.predict(X), values


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

    def predict_and_explain(self, X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(risk probability [n], SHAP contributions in log-odds [n, n_features]) for feature rows ``X``."""
        matrix = X[list(self.feature_names)].to_numpy(dtype="float64") if isinstance(X, pd.DataFrame) \
            else np.asarray(X, dtype="float64")
        if len(matrix) == 0:
            return np.zeros(0), np.zeros((0, len(self.feature_names)))
        risk, shap_values = self.scorer.predict_and_explain(matrix)
        return np.asarray(risk, dtype="float64"), np.asarray(shap_values, dtype="float64")

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Risk only (no SHAP): for evaluation."""
        matrix = X[list(self.feature_names)].to_numpy(dtype="float64")
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
    return ModelArtifact(version=version, path=path, threshold=float(meta["threshold"]), feature_names=names,
                         feature_version=meta["feature_version"], epoch_ms=int(meta["epoch_ms"]),
                         horizon_days=float(meta["horizon_days"]), metrics=metrics,
                         global_importance=dict(meta.get("global_importance") or {}), metadata=meta, scorer=scorer)


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
                  model_card: str = "", fingerprint: str = "", make_latest: bool = True) -> ModelArtifact:
    """Write a complete version folder, then (optionally) move ``latest`` to it; returns the loaded artifact.

    ``plots`` maps a file name (``roc.png``) to a matplotlib Figure. The folder is built under a hidden
    temporary name and renamed when complete.
    """
    import joblib

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    version = new_version(fingerprint)
    tmp = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=model_dir))
    meta = {**dict(metadata), "version": version, "threshold": float(threshold),
            "feature_names": list(feature_names), "feature_version": FEATURE_VERSION, "epoch_ms": int(epoch_ms),
            "horizon_days": float(horizon_days), "global_importance": {k: float(v) for k, v in global_importance.items()},
            "libraries": library_versions(), "fingerprint": fingerprint, "model_kind": getattr(scorer, "kind", "")}
    joblib.dump(scorer, tmp / MODEL_FILE)
    (tmp / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=_json_default), encoding="utf-8")
    (tmp / METRICS_FILE).write_text(json.dumps(dict(metrics), indent=2, default=_json_default), encoding="utf-8")
    (tmp / CARD_FILE).write_text(model_card or f"# Model {version}\n", encoding="utf-8")
    for name, fig in (plots or {}).items():
        fig.savefig(tmp / name, dpi=110, bbox_inches="tight")
    os.replace(tmp, model_dir / version)
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


def quick_artifact(model_dir: str | Path, X: pd.DataFrame, y: np.ndarray, epoch_ms: int, horizon_days: float = 14.0,
                   kind: str = "tree", threshold: float | None = None) -> ModelArtifact:
    """Train a small model on a feature frame and save it as ``latest``: for tests of the consumers.

    ``X`` holds :data:`FEATURE_NAMES` columns (e.g. ``model_features`` output); ``kind`` is ``tree``
    (HistGradientBoosting, 40 trees of depth 3) or ``linear`` (scaled logistic regression). Metrics are
    in-sample (this is a fixture, not an evaluation).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    names = tuple(FEATURE_NAMES)
    matrix = X[list(names)].to_numpy(dtype="float64")
    y = np.asarray(y).astype(int)
    if kind == "tree":
        scorer: Any = TreeScorer(HistGradientBoostingClassifier(max_iter=40, max_depth=3, random_state=0).fit(matrix, y))
    else:
        mean, scale = matrix.mean(axis=0), matrix.std(axis=0)
        scale[scale == 0] = 1.0
        lr = LogisticRegression(max_iter=500).fit((matrix - mean) / scale, y)
        coef = lr.coef_.ravel() / scale
        scorer = LinearScorer(coef, float(lr.intercept_[0] - coef @ mean), mean)
    risk, shap_values = scorer.predict_and_explain(matrix)
    thr = float(np.quantile(risk, 0.8)) if threshold is None else float(threshold)
    metrics = {k: 0.0 for k in METRIC_KEYS}
    importance = dict(zip(names, np.abs(shap_values).mean(axis=0).tolist()))
    return save_artifact(model_dir, scorer, threshold=thr, feature_names=names, epoch_ms=epoch_ms,
                         horizon_days=horizon_days, metrics=metrics, global_importance=importance,
                         metadata={"note": "quick_artifact test fixture", "shap_expected_value": scorer.expected_value},
                         fingerprint="quick")
