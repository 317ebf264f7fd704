"""A user's raw aggregates as one compact Redis value: what the refresh rescores a silent user from.

The streaming job's state store holds every user's raw aggregates, but a ``foreachBatch`` sees only the users a
batch updated. So the user write also stores each user's raw aggregates (``{p}:raw``, field = userId), packed
as float64 values in :data:`PACKED_COLUMNS` order (text columns as their :data:`contracts.features.LAST_CODES`
index, 0 = none; NaN = null), base64 text so that clients decoding responses read it too.
"""
from __future__ import annotations

import base64

import numpy as np
import pandas as pd

from contracts.features import LAST_CODES, RAW_COLUMNS, TEXT_COLUMNS

#: The packed order: every raw aggregate column.
PACKED_COLUMNS: tuple[str, ...] = RAW_COLUMNS


def _matrix(raw: pd.DataFrame) -> np.ndarray:
    cols = []
    for name in PACKED_COLUMNS:
        if name not in raw.columns:
            cols.append(np.full(len(raw), np.nan))
        elif name in TEXT_COLUMNS:
            codes = {value: float(i) for i, value in enumerate(LAST_CODES[name], 1)}
            cols.append(raw[name].map(codes).fillna(0.0).to_numpy(dtype="float64"))
        else:
            cols.append(pd.to_numeric(raw[name], errors="coerce").to_numpy(dtype="float64"))
    return np.column_stack(cols) if cols else np.empty((len(raw), 0))


def pack(raw: pd.DataFrame) -> list[str]:
    """One packed value per row of a frame of raw aggregates (missing columns pack as null)."""
    matrix = np.ascontiguousarray(_matrix(raw), dtype="<f8")
    return [base64.b64encode(row.tobytes()).decode("ascii") for row in matrix]


def unpack(user_ids: list[str], values: list[str]) -> pd.DataFrame:
    """The raw-aggregate frame (``userId`` + :data:`PACKED_COLUMNS`) of packed values; the inverse of :func:`pack`.

    A value of another length (written by another feature version) raises ``ValueError``.
    """
    width = len(PACKED_COLUMNS)
    blob = b"".join(base64.b64decode(v) for v in values)
    if len(blob) != 8 * width * len(values):
        raise ValueError("packed raw aggregates of another layout: rescore after the streaming job restarts")
    matrix = np.frombuffer(blob, dtype="<f8").reshape(len(values), width)
    frame = pd.DataFrame(matrix, columns=list(PACKED_COLUMNS))
    for name in TEXT_COLUMNS:
        labels = np.array([None, *LAST_CODES[name]], dtype=object)
        frame[name] = labels[np.nan_to_num(frame[name].to_numpy(), nan=0.0).astype(int)]
    frame.insert(0, "userId", list(user_ids))
    return frame
