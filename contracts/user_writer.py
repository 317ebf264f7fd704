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
from redis.exceptions import NoScriptError

from contracts.redis_client import register, with_retry
from contracts.redis_keys import RedisKeys, UserField, UserScore

#: Fields the script sets itself from Redis' state (hysteresis, cancellation) or takes as its own arguments.
SCRIPT_FIELDS: frozenset[str] = frozenset({UserField.ALERTING, UserField.CHURNED, UserField.CHURNED_TS,
                                           UserField.SHAP, UserField.RISK, UserField.AS_OF})


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

    One chunk is in flight while the next one's arguments are built and sent: Redis runs the scripts in its own
    process while Python prepares what follows, instead of each waiting for the other. After a lost connection the
    write resumes at the first chunk whose replies were not read; a chunk sent again is refused where Redis already
    holds it (its users then report code 0), so nothing is written twice.
    """

    def __init__(self, client: redis.Redis, keys: RedisKeys, threshold: float, hysteresis: float,
                 alert_maxlen: int, chunk: int = 500, per_call: int = 100, retry_for_s: float = 600.0):
        self.client = client
        self.keys = keys
        self.threshold = threshold
        self.hysteresis = hysteresis
        self.alert_maxlen = alert_maxlen
        self.chunk = chunk  # users per round trip (one retry unit)
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
        done: list[Written] = []

        def rest() -> None:
            try:
                self._write_from(users, raw, keep, done)
            except NoScriptError:  # Redis restarted (or flushed its scripts) since the script was loaded
                self.client.script_load(self._script.script)
                self._write_from(users, raw, keep, done)

        with_retry(rest, self.retry_for_s)
        return done

    def _write_from(self, users: Sequence[UserScore], raw: Sequence[str], keep: Sequence[bool],
                    done: list[Written]) -> None:
        """Write ``users[len(done):]`` chunk by chunk, appending each chunk's results to ``done`` once read."""
        pool = self.client.connection_pool
        conn = pool.get_connection()
        in_flight = 0  # script calls sent and not read yet
        try:
            for start in range(len(done), len(users), self.chunk):
                end = min(start + self.chunk, len(users))
                calls = [self._call(users, raw, keep, lo, min(lo + self.per_call, end))
                         for lo in range(start, end, self.per_call)]
                conn.send_packed_command(conn.pack_commands(calls))
                self._read(conn, in_flight, done)
                in_flight = len(calls)
            self._read(conn, in_flight, done)
        except BaseException:
            conn.disconnect()  # replies may still be on their way: never hand this socket to anyone else
            raise
        finally:
            pool.release(conn)

    def _call(self, users: Sequence[UserScore], raw: Sequence[str], keep: Sequence[bool], lo: int,
              hi: int) -> tuple[Any, ...]:
        k = self.keys
        keys = [k.ranking, k.churned, k.alerts, k.importance, k.health, k.cancelled_risk, k.caught, k.raw]
        argv: list[Any] = [repr(float(self.threshold)), repr(float(self.hysteresis)), self.alert_maxlen]
        for i in range(lo, hi):
            keys.append(k.user(users[i].user_id))
            argv += self._args(users[i], raw[i], keep[i])
        return ("EVALSHA", self._script.sha, len(keys), *keys, *argv)

    @staticmethod
    def _read(conn: Any, calls: int, done: list[Written]) -> None:
        """Read the replies of ``calls`` script calls sent on ``conn`` (an error reply is raised); nothing is added
        to ``done`` unless all arrived."""
        replies = [conn.read_response() for _ in range(calls)]
        done.extend(Written(int(code), int(counted), bool(int(named))) for call in replies
                    for code, counted, named in call)

    @staticmethod
    def _args(u: UserScore, raw: str = "", keep_shap: bool = False) -> list[Any]:
        """One user's script arguments: its order, cancellation, SHAP ("" = keep) and level, its packed raw
        aggregates ("" = none), then its other fields (an active user whose SHAP is kept: only what a refresh
        rewrites, :data:`contracts.redis_keys.RESCORE_FIELDS`)."""
        keep = keep_shap and u.churned_ts is None
        fields = u.rescore_hash() if keep else u.to_hash()
        shap = "" if keep else fields[UserField.SHAP]
        pairs = [x for k, v in fields.items() if k not in SCRIPT_FIELDS for x in (k, v)]
        return [u.user_id, fields[UserField.AS_OF], u.n_events, fields[UserField.RISK],
                "" if u.churned_ts is None else int(u.churned_ts), shap, u.level, raw, len(pairs) // 2, *pairs]

