"""The user write, shared by the streaming job and the dashboard's seed: scored users into Redis, idempotently.

Users are written by a Lua script (``lua/write_users.lua``), a chunk of them per call, so that each user's hash,
the ranking, the churned set, the alert stream and the global importance move together. The script refuses any
user write that is not newer than what Redis holds, ordered by (as_of, n_events): a replayed micro-batch (after
a crash, Spark re-runs the last batch) therefore changes nothing and never emits an alert twice, and a score never
moves backwards in event time. It lives in ``contracts`` because two services write users: the streaming job, and
the dashboard's seed (fake users for demos and tests), which must not import the streaming service.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import redis

from contracts.redis_client import register, with_retry
from contracts.redis_keys import RedisKeys, UserField, UserScore

#: Fields the script sets itself from Redis' state (hysteresis, cancellation) or takes as its own arguments.
SCRIPT_FIELDS: frozenset[str] = frozenset({UserField.ALERTING, UserField.CHURNED, UserField.CHURNED_TS,
                                           UserField.SHAP})


class Written(NamedTuple):
    """What one user's write did: ``code`` 0 (Redis already held this or newer), 1 (written) or 2 (written and
    an alert raised); ``new_events`` the user's events counted for the first time; ``named`` whether the user's
    hash already has its display name."""
    code: int
    new_events: int
    named: bool


class UserWriter:
    """Writes :class:`UserScore` records through the Lua script, in pipelined chunks, retrying while Redis is away.

    A record must carry ``risk``, ``as_of`` and ``n_events`` (the write's order); ``churned_ts`` set means the
    user cancelled. The script is registered once, when the writer is made: keep one writer per client.
    """

    def __init__(self, client: redis.Redis, keys: RedisKeys, threshold: float, hysteresis: float,
                 alert_maxlen: int, chunk: int = 500, per_call: int = 100, retry_for_s: float = 600.0):
        self.client = client
        self.keys = keys
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.alert_maxlen = alert_maxlen
        self.chunk = chunk  # users per pipeline (one retry unit)
        self.per_call = per_call  # users per script call (Redis serves nothing else while a script runs)
        self.retry_for_s = retry_for_s
        self._script = register(client, "contracts", "write_users")

    def write(self, users: Sequence[UserScore], raw: Sequence[str] | None = None,
              keep_shap: Sequence[bool] | None = None) -> list[Written]:
        """Write all users, in their order; one :class:`Written` per user.

        ``raw``: each user's packed raw aggregates (:mod:`contracts.raw_codec`), stored with the user; ``keep_shap``:
        users whose SHAP values and drivers stay as Redis holds them (a refresh that did not recompute them).
        """
        raw = raw if raw is not None else [""] * len(users)
        keep = keep_shap if keep_shap is not None else [False] * len(users)
        args = [self._args(u, r, k) for u, r, k in zip(users, raw, keep)]
        results: list[Written] = []
        for start in range(0, len(users), self.chunk):
            part = users[start:start + self.chunk], args[start:start + self.chunk]
            results.extend(with_retry(lambda: self._write_chunk(*part), self.retry_for_s))
        return results

    @staticmethod
    def _args(u: UserScore, raw: str = "", keep_shap: bool = False) -> list[Any]:
        """One user's script arguments: its order, cancellation, SHAP ("" = keep) and level, its packed raw
        aggregates ("" = none), then its other fields (an active user whose SHAP is kept: only what a refresh
        rewrites, :data:`contracts.redis_keys.RESCORE_FIELDS`)."""
        keep = keep_shap and u.churned_ts is None
        fields = u.rescore_hash() if keep else u.to_hash()
        shap = "" if keep else fields[UserField.SHAP]
        argv: list[Any] = [u.user_id, u.as_of, u.n_events, fields[UserField.RISK],
                           "" if u.churned_ts is None else int(u.churned_ts), shap, u.level, raw]
        pairs = [(k, v) for k, v in fields.items() if k not in SCRIPT_FIELDS]
        argv.append(len(pairs))
        for name, value in pairs:
            argv += [name, value]
        return argv

    def _write_chunk(self, users: Sequence[UserScore], args: Sequence[list[Any]]) -> list[Written]:
        k = self.keys
        fixed_keys = [k.ranking, k.churned, k.alerts, k.importance, k.health, k.cancelled_risk, k.caught, k.raw]
        pipe = self.client.pipeline(transaction=False)
        for start in range(0, len(users), self.per_call):
            keys = list(fixed_keys)
            argv: list[Any] = [repr(float(self.threshold)), repr(float(self.hysteresis)), self.alert_maxlen]
            for u, a in zip(users[start:start + self.per_call], args[start:start + self.per_call]):
                keys.append(k.user(u.user_id))
                argv += a
            self._script(keys=keys, args=argv, client=pipe)
        return [Written(int(code), int(counted), bool(int(named)))
                for call in pipe.execute() for code, counted, named in call]
