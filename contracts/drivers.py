"""Which features explain a user's risk: the drivers stored with each score, chosen one way for every writer.

The streaming job and the dashboard's seed both write users; picking the drivers here keeps what the page
shows the same whichever wrote it.
"""
from __future__ import annotations

import numpy as np

from contracts.features import feature_label
from contracts.redis_keys import Driver


def top_drivers(shap: np.ndarray, values: np.ndarray, names: list[str], k: int) -> list[tuple[Driver, ...]]:
    """Per row: the ``k`` features raising risk most (descending), then the one lowering it most.

    ``shap`` and ``values`` are (users x features) in the order of ``names``; contributions are in the model's
    margin (log-odds), as SHAP gives them.
    """
    shap = np.atleast_2d(shap)
    values = np.atleast_2d(values)
    order = np.argsort(-shap, axis=1, kind="stable")
    lowest = np.argmin(shap, axis=1)
    labels = [feature_label(n) for n in names]
    out = []
    for i in range(shap.shape[0]):
        chosen = [int(j) for j in order[i, :k] if shap[i, j] > 0]
        if shap[i, lowest[i]] < 0:
            chosen.append(int(lowest[i]))
        out.append(tuple(Driver(names[j], labels[j], float(values[i, j]), float(shap[i, j])) for j in chosen))
    return out
