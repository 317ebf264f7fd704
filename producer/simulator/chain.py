"""Exact session statistics of a cohort from its absorbing Markov chain.

A session is a walk on (page, auth, level) states that ends either by the left-over probability ("end") or
in Cancellation Confirmation ("cancel"). With Q the transient-to-transient matrix, the fundamental matrix
N = (I - Q)^-1 gives the expected visits to each state from a start distribution; from the visits follow
P(cancel in a session), the distribution of the (auth, level) a session ends in, and the expected session
length. Combining the sessions with the user's session rate gives the daily hazard the truth file records,
which training uses as the best possible forecast.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from contracts.schema import CANCEL_PAGE
from producer.simulator import model
from producer.simulator.cohorts import get_cohort

REGISTERED_STARTS: tuple[tuple[str, str], ...] = (
    ("Logged In", "free"), ("Logged In", "paid"), ("Logged Out", "free"), ("Logged Out", "paid"))


@dataclass(frozen=True)
class SessionStats:
    """Per start (auth, level): P(cancel), expected length, expected visits per page, end distribution."""
    p_cancel: float
    #: expected session length in seconds = fixed_seconds + alpha_steps x alpha (linear in the user's alpha)
    fixed_seconds: float
    alpha_steps: float
    visits: dict[str, float]
    #: P(the session ends in (auth, level) without cancelling)
    ends: dict[tuple[str, str], float]

    def seconds(self, alpha_s: float) -> float:
        return self.fixed_seconds + self.alpha_steps * alpha_s


def _states(transitions) -> list:
    seen = dict.fromkeys(transitions)
    for dests in transitions.values():
        for d, _ in dests:
            seen.setdefault(d)
    for (auth, level), pages in model.FIRST_PAGE.items():
        for page in pages:
            seen.setdefault((page, auth, level))
    return list(seen)


def _step_seconds(state) -> tuple[float, float]:
    """Expected (fixed seconds, alpha multiples) from the previous event to an event in ``state``.

    A redirect (307) comes 1 s later, a song after the previous song ends (mean song length; a song
    interrupted by a page still plays out), any other page after exponential(alpha).
    """
    page = state[0]
    if model.method_status(page)[1] == 307:
        return 1.0, 0.0
    if page == "NextSong":
        return model.SONG_MEAN_S, 0.0
    return 0.0, 1.0


@lru_cache(maxsize=None)
def session_stats(cohort_name: str) -> dict[tuple[str, str], SessionStats]:
    """Session statistics of a cohort for every start (auth, level)."""
    cohort = get_cohort(cohort_name)
    states = _states(cohort.transitions)
    index = {s: i for i, s in enumerate(states)}
    n = len(states)
    q = np.zeros((n, n))
    cancel = np.zeros(n)
    for src, dests in cohort.transitions.items():
        if src[0] == CANCEL_PAGE:
            continue
        for d, p in dests:
            if d[0] == CANCEL_PAGE:
                cancel[index[src]] += p
            else:
                q[index[src], index[d]] += p
    for s in states:  # the cancel states are absorbing; no row
        if s[0] == CANCEL_PAGE:
            q[index[s], :] = 0
    p_end = 1.0 - q.sum(axis=1) - cancel
    fundamental = np.linalg.inv(np.eye(n) - q)
    step = np.array([_step_seconds(s) for s in states])
    out: dict[tuple[str, str], SessionStats] = {}
    for (auth, level), weights in model.FIRST_PAGE.items():
        start = np.zeros(n)
        total = sum(weights.values())
        for page, w in weights.items():
            start[index[(page, auth, level)]] += w / total
        visits = start @ fundamental
        ends: dict[tuple[str, str], float] = {}
        for i, s in enumerate(states):
            if s[0] != CANCEL_PAGE and p_end[i] > 0:
                key = (s[1], s[2])
                ends[key] = ends.get(key, 0.0) + visits[i] * p_end[i]
        page_visits: dict[str, float] = {}
        for i, s in enumerate(states):
            page_visits[s[0]] = page_visits.get(s[0], 0.0) + visits[i]
        page_visits[CANCEL_PAGE] = float(visits @ cancel)
        fixed, alphas = visits @ step - start @ step
        out[(auth, level)] = SessionStats(float(visits @ cancel), float(fixed), float(alphas), page_visits, ends)
    return out


@lru_cache(maxsize=None)
def _stationary(cohort_name: str) -> np.ndarray:
    """Stationary distribution over REGISTERED_STARTS of the chain 'session start -> next session start'."""
    stats = session_stats(cohort_name)
    m = np.zeros((4, 4))
    for i, a in enumerate(REGISTERED_STARTS):
        for j, b in enumerate(REGISTERED_STARTS):
            m[i, j] = stats[a].ends.get(b, 0.0)
        m[i] /= max(m[i].sum(), 1e-12)
    vals, vecs = np.linalg.eig(m.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1.0))])
    return np.abs(pi) / np.abs(pi).sum()


def acceptance(weekend_damping: float, off_fraction: float) -> float:
    """Share of session-start attempts kept: weekend/holiday starts are rejected with ``weekend_damping``."""
    return 1.0 - weekend_damping * off_fraction


def daily_hazard(cohort_name: str, alpha_s: float, beta_s: float, off_fraction: float) -> dict[str, float]:
    """Expected cancellations per day of an active registered user, by current level.

    hazard[level] = P(cancel in a session | level) x sessions per day, where the between-sessions auth
    (Logged In / Logged Out) is weighted by the stationary distribution of the chain of session ends, and
    sessions per day = 1 day / (session length + (beta + session gap) / acceptance).
    """
    cohort = get_cohort(cohort_name)
    stats = session_stats(cohort_name)
    starts = REGISTERED_STARTS
    pi = _stationary(cohort_name)
    gap = (beta_s + model.SESSION_GAP_S) / acceptance(cohort.weekend_damping, off_fraction)
    out: dict[str, float] = {}
    for level in ("free", "paid"):
        idx = [i for i, a in enumerate(starts) if a[1] == level]
        w = pi[idx] / pi[idx].sum() if pi[idx].sum() > 1e-12 else np.array([1.0, 0.0])
        p_cancel = sum(wi * stats[starts[i]].p_cancel for wi, i in zip(w, idx))
        seconds = sum(wi * stats[starts[i]].seconds(alpha_s) for wi, i in zip(w, idx))
        out[level] = float(p_cancel * 86_400.0 / (seconds + gap))
    return out
