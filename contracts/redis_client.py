"""Redis connections for every service: sockets that time out, retries with back-off, Lua scripts from files.

Retries are hand-written rather than redis-py's ``Retry``: a write must go on being retried for minutes while
Redis restarts (``retry_for_s``, a deadline rather than a count of attempts), and a wrong password must fail at
once instead.
"""
from __future__ import annotations

import time
from functools import lru_cache
from importlib.resources import files
from typing import Any, Callable, TypeVar

import redis

T = TypeVar("T")


def connect(url: str, **kwargs: Any) -> redis.Redis:
    """A client whose socket calls time out, so that a dead Redis is noticed and retried."""
    kwargs.setdefault("socket_timeout", 10)
    kwargs.setdefault("socket_connect_timeout", 5)
    kwargs.setdefault("health_check_interval", 30)
    return redis.Redis.from_url(url, **kwargs)


def with_retry(fn: Callable[[], T], retry_for_s: float = 600.0, first_delay_s: float = 0.2,
               max_delay_s: float = 10.0) -> T:
    """Call ``fn`` until it succeeds, backing off exponentially on connection errors, for at most ``retry_for_s``."""
    deadline = time.monotonic() + retry_for_s
    delay = first_delay_s
    while True:
        try:
            return fn()
        except redis.AuthenticationError:  # a ConnectionError subclass, but waiting cannot fix a wrong password
            raise
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
            if time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, max_delay_s)


@lru_cache(maxsize=None)
def lua_source(package: str, name: str) -> str:
    """The text of ``<package>/lua/<name>.lua`` (shipped as package data)."""
    return (files(package) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def register(client: Any, package: str, name: str):
    """``client.register_script`` of a Lua file: do it once per client and keep the result (it runs by SHA,
    loading the script into Redis only when Redis does not have it)."""
    return client.register_script(lua_source(package, name))
