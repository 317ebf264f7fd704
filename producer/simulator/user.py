"""Simulate one user: sessions and pages, formatted straight into Sparkify JSON lines.

This is the hot loop (about 26M events at full scale), so it works on integer state ids and pre-built
string fragments, and takes its random numbers from numpy blocks turned into lists. Each user has its own
random generator seeded from (seed, user index): the result does not depend on sharding or worker count.
"""
from __future__ import annotations

import bisect
import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from contracts.schema import CANCEL_PAGE
from contracts.truth import UserTruth
from producer.simulator import model
from producer.simulator.catalogue import LAST_NAMES, LOCATIONS, USER_AGENTS, catalogue, first_names
from producer.simulator.chain import daily_hazard
from producer.simulator.clock import OffDays, warp
from producer.simulator.cohorts import get_cohort

BLOCK = 2048  # random numbers drawn per numpy call (uniforms, exponentials, songs)
SESSION_STRIDE = 100_000  # sessionId = user index x stride + session number: unique, deterministic
SQRT_E = float(np.sqrt(np.e))


@dataclass(frozen=True)
class Compiled:
    """A cohort's chain as integer states, for the hot loop."""
    cum: tuple[tuple[float, ...], ...]  # cumulative transition probabilities per state
    dest: tuple[tuple[int, ...], ...]
    first_cum: dict[tuple[str, str], tuple[float, ...]]
    first_dest: dict[tuple[str, str], tuple[int, ...]]
    frag: tuple[str, ...]  # '"page":..,"auth":..,"method":..,"status":..,"level":..,"itemInSession":'
    visible: tuple[bool, ...]
    redirect: tuple[bool, ...]
    song: tuple[bool, ...]
    cancel: tuple[bool, ...]
    auth: tuple[str, ...]
    level: tuple[str, ...]
    #: 'free'/'paid' -> the very string objects in ``level`` (the hot loop compares with ``is``)
    level_name: dict[str, str]


@lru_cache(maxsize=None)
def compiled(cohort_name: str) -> Compiled:
    cohort = get_cohort(cohort_name)
    states: dict = {}
    for src, dests in cohort.transitions.items():
        states.setdefault(src, len(states))
        for d, _ in dests:
            states.setdefault(d, len(states))
    for (auth, level), pages in model.FIRST_PAGE.items():
        for page in pages:
            states.setdefault((page, auth, level), len(states))
    order = sorted(states, key=states.get)
    cum, dest = [], []
    for s in order:
        acc, cs, ds = 0.0, [], []
        for d, p in cohort.transitions.get(s, ()):
            acc += p
            cs.append(acc)
            ds.append(states[d])
        cum.append(tuple(cs))
        dest.append(tuple(ds))
    first_cum, first_dest = {}, {}
    for key, pages in model.FIRST_PAGE.items():
        total = sum(pages.values())
        acc, cs, ds = 0.0, [], []
        for page, w in pages.items():
            acc += w / total
            cs.append(acc)
            ds.append(states[(page, *key)])
        cs[-1] = 1.0 + 1e-12
        first_cum[key], first_dest[key] = tuple(cs), tuple(ds)
    level_name = {"free": "free", "paid": "paid"}
    levels = tuple(level_name[s[2]] for s in order)
    frag = []
    for page, auth, level in order:
        method, status = model.method_status(page)
        frag.append(f'"page":{json.dumps(page)},"auth":"{auth}","method":"{method}","status":{status},'
                    f'"level":"{level}","itemInSession":')
    return Compiled(
        tuple(cum), tuple(dest), first_cum, first_dest, tuple(frag),
        tuple(s[1] not in model.HIDDEN_AUTHS for s in order),
        tuple(model.method_status(s[0])[1] == 307 for s in order),
        tuple(s[0] == "NextSong" for s in order),
        tuple(s[0] == CANCEL_PAGE for s in order),
        tuple(s[1] for s in order), levels, level_name,
    )


def _pick(weights: dict[str, float], u: float) -> str:
    total = sum(weights.values())
    acc = 0.0
    for name, w in weights.items():
        acc += w / total
        if u < acc:
            return name
    return name


def simulate_user(index: int, arrival_s: int | None, seed: int, mix: dict[str, float], paid_weight: float,
                  start_s: int, end_s: int, off: OffDays, ts_out: list, lines_out: list) -> UserTruth | None:
    """Append one user's events (epoch seconds, JSON line) to the outputs, in time order.

    ``arrival_s`` is None for an initial user (present from the window's start, registered earlier) and
    the arrival time of a growth user (starts as a Guest). Returns the user's latent truth, or None if the
    user never shows up registered in the window.
    """
    rng = np.random.default_rng([seed, index])
    attrs = rng.random(12)
    cohort_name = _pick(mix, attrs[0])
    cohort = get_cohort(cohort_name)
    c = compiled(cohort_name)
    l_alpha, l_beta = np.exp(rng.standard_normal(2)) / SQRT_E
    alpha = cohort.alpha_s * float(l_alpha)
    beta = cohort.beta_s * float(l_beta)
    damping, wdamp = cohort.damping, cohort.weekend_damping
    gender = "F" if attrs[1] < 0.46 else "M"
    names = first_names(gender)
    uid = str(index + 1)
    if arrival_s is None:
        auth = "Logged In" if attrs[2] < _share(model.INITIAL_AUTH_WEIGHTS, "Logged In") else "Logged Out"
        level = "paid" if attrs[3] < paid_weight / (10.0 + paid_weight) else "free"
        registration_ms: int | None = (start_s - int(86_400 * (1 + 194 * attrs[4]))) * 1000
        t_prev = start_s
    else:
        auth, level, registration_ms, t_prev = "Guest", "free", None, arrival_s
    person = (f',"location":{json.dumps(LOCATIONS[int(attrs[5] * len(LOCATIONS))])},'
              f'"userAgent":{json.dumps(USER_AGENTS[int(attrs[6] * len(USER_AGENTS))])},'
              f'"lastName":{json.dumps(LAST_NAMES[int(attrs[7] * len(LAST_NAMES))])},'
              f'"firstName":{json.dumps(names[int(attrs[8] * len(names))])},')
    tail = "" if registration_ms is None else f'{person}"registration":{registration_ms},"gender":"{gender}"'

    cat = catalogue()
    song_frags, song_len = cat.song_fragments, cat.lengths
    cum, dest, frag, visible = c.cum, c.dest, c.frag, c.visible
    redirect, is_song, is_cancel, s_auth, s_level = c.redirect, c.song, c.cancel, c.auth, c.level
    U: list = []
    E: list = []
    S: list = []
    blk = BLOCK
    ui = ei = si = blk  # empty: the first use draws a block
    level_history: list[list] = [] if registration_ms is None else [[registration_ms, level]]
    cur_level = None if registration_ms is None else c.level_name[level]  # level of the last visible event
    cancel_ts = None
    first_line = len(lines_out)
    gap_s = model.SESSION_GAP_S
    ts_append, line_append = ts_out.append, lines_out.append
    n_session = 0
    session_base = index * SESSION_STRIDE
    t = t_prev
    first = arrival_s is not None  # a growth user's first session starts on arrival
    while True:
        # -- next session start: exponential gap + fixed gap, warped, weekend/holiday rejection --
        if first:
            first = False
        else:
            while True:
                if ei >= blk:
                    E, ei = rng.standard_exponential(BLOCK).tolist(), 0
                if ui >= blk:
                    U, ui = rng.random(BLOCK).tolist(), 0
                cand = warp(t + E[ei] * beta + gap_s, damping)
                ei += 1
                u = U[ui]
                ui += 1
                t = max(cand, t_prev + gap_s)
                if t >= end_s:
                    break
                w = off.weight(t)
                if not (w > 0.0 and u < wdamp * w):
                    break
        t = int(t)
        if t >= end_s:
            break
        n_session += 1
        sid = session_base + n_session
        pv = f',"userId":"{uid}","sessionId":{sid},'
        ph = f',"userId":"","sessionId":{sid},'
        if ui >= blk:
            U, ui = rng.random(BLOCK).tolist(), 0
        key = (auth, level)
        fd = c.first_dest[key]
        s = fd[bisect.bisect_right(c.first_cum[key], U[ui])]
        ui += 1
        item = 0
        song_end = -1
        song = ""
        if is_song[s]:
            if si >= blk:
                S, si = np.searchsorted(cat.cum_popularity, rng.random(BLOCK)).tolist(), 0
            k = S[si]
            si += 1
            song = song_frags[k]
            song_end = t + int(song_len[k])
        while True:
            if visible[s]:
                if s_level[s] is not cur_level:  # registration (cur_level None) or level change
                    cur_level = s_level[s]
                    if registration_ms is None:  # a Guest just registered
                        registration_ms = t * 1000
                        tail = f'{person}"registration":{registration_ms},"gender":"{gender}"'
                    level_history.append([t * 1000, cur_level])
                line_append(f'{{"ts":{t}000{pv}{frag[s]}{item}{tail}{song}}}\n')
            else:
                line_append(f'{{"ts":{t}000{ph}{frag[s]}{item}}}\n')
            ts_append(t)
            if is_cancel[s]:
                cancel_ts = t * 1000
                break
            if ui >= blk:
                U, ui = rng.random(BLOCK).tolist(), 0
            cs = cum[s]
            j = bisect.bisect_right(cs, U[ui])
            ui += 1
            if j == len(cs):
                break  # left-over probability: the session ends
            s = dest[s][j]
            if redirect[s]:
                t += 1
                song = ""
            elif is_song[s]:
                if t < song_end:
                    t = song_end
                else:
                    if ei >= blk:
                        E, ei = rng.standard_exponential(BLOCK).tolist(), 0
                    t += int(E[ei] * alpha)
                    ei += 1
                if si >= blk:
                    S, si = np.searchsorted(cat.cum_popularity, rng.random(BLOCK)).tolist(), 0
                k = S[si]
                si += 1
                song = song_frags[k]
                song_end = t + int(song_len[k])
            else:
                if ei >= blk:
                    E, ei = rng.standard_exponential(BLOCK).tolist(), 0
                t += int(E[ei] * alpha)
                ei += 1
                song = ""
            if t >= end_s:
                break
            item += 1
        if cancel_ts is not None or t >= end_s:
            break
        auth, level = s_auth[s], s_level[s]
        t_prev = t
    if not any_visible(lines_out, first_line):
        return None
    return UserTruth(
        userId=uid, cohort=cohort_name, alpha_s=round(alpha, 3), beta_s=round(beta, 1),
        registration=registration_ms, level_history=level_history, cancel_ts=cancel_ts,
        daily_hazard={k: round(v, 8) for k, v in daily_hazard(cohort_name, alpha, beta, off.fraction).items()},
    )


def any_visible(lines: list[str], start: int) -> bool:
    """Whether any line from ``start`` on carries a userId (hidden lines have ``"userId":""``)."""
    return any('"userId":""' not in lines[k][:60] for k in range(start, len(lines)))


def _share(weights: dict[str, float], key: str) -> float:
    return weights[key] / sum(weights.values())
