"""Fetching users' display text from their Kafka positions, against a real broker."""
from __future__ import annotations

import json

import pytest

from contracts.redis_keys import RedisKeys, UserProfile
from streaming.kinds import position_of
from streaming.profiles import READ_THROUGH_RECORDS, ProfileFetcher, fetch_profiles
from tests.streaming.helpers import produce_lines

pytestmark = pytest.mark.integration


def _line(i: int) -> bytes:
    return json.dumps({"ts": 1_538_352_000_000 + i, "userId": str(i), "page": "NextSong", "firstName": f"F{i}",
                       "lastName": f"L{i}", "location": f"Town {i}, ST"}, separators=(",", ":")).encode()


def test_fetch_profiles_reads_close_positions_through_and_seeks_far_ones(kafka_broker, topic):
    n = 3 * READ_THROUGH_RECORDS + 500
    produce_lines(kafka_broker.bootstrap, topic, [_line(i) for i in range(n)], partitions=1)

    # positions are the partition's offsets (one partition, produced in order: offset i holds user i);
    # close runs, far jumps, the last record, and two users on the same record
    offsets = [0, 1, 2, 50, 1_000, 1_001, 3 * READ_THROUGH_RECORDS, n - 1]
    wanted = [(str(o), o) for o in offsets] + [("again", 50)]
    got = fetch_profiles({"bootstrap.servers": kafka_broker.bootstrap}, topic, wanted[::-1])

    expected = ({(str(o), UserProfile(f"F{o} L{o}", f"Town {o}, ST")) for o in offsets}
                | {("again", UserProfile("F50 L50", "Town 50, ST"))})
    assert set(got) == expected
    assert len(got) == len(expected)


def test_fetch_profiles_skips_a_position_past_the_end_and_reads_other_partitions(kafka_broker, topic):
    produce_lines(kafka_broker.bootstrap, topic, [_line(i) for i in range(10)], partitions=1)
    past_end = (0, 10 + READ_THROUGH_RECORDS + 1)
    unknown_partition = position_of(1, 3)  # partition 1 does not exist
    got = fetch_profiles({"bootstrap.servers": kafka_broker.bootstrap}, topic,
                         [("3", 3), ("gone", past_end[1]), ("nowhere", unknown_partition), ("9", 9)], timeout_s=2)
    assert sorted(got, key=lambda g: g[0]) == [("3", UserProfile("F3 L3", "Town 3, ST")),
                                               ("9", UserProfile("F9 L9", "Town 9, ST"))]


def _names(client, keys: RedisKeys, users: list[str]) -> dict[str, str | None]:
    return {u: client.hget(keys.user(u), "name") for u in users}


def test_the_fetcher_names_users_in_the_background_and_clears_what_it_recorded(kafka_broker, topic, redis_client):
    produce_lines(kafka_broker.bootstrap, topic, [_line(i) for i in range(20)], partitions=1)
    keys = RedisKeys("p")
    fetcher = ProfileFetcher(redis_client, keys, {"bootstrap.servers": kafka_broker.bootstrap}, topic)
    fetcher.submit([("3", 3), ("7", 7)])
    assert fetcher.submit([("12", 12)]) >= 0  # waits for the first fetch, then starts the second
    fetcher.close()
    assert _names(redis_client, keys, ["3", "7", "12"]) == {"3": "F3 L3", "7": "F7 L7", "12": "F12 L12"}
    assert redis_client.exists(keys.unnamed) == 0


def test_users_a_crashed_run_left_recorded_are_named_at_the_next_start(kafka_broker, topic, redis_client):
    produce_lines(kafka_broker.bootstrap, topic, [_line(i) for i in range(20)], partitions=1)
    keys = RedisKeys("p")
    redis_client.hset(keys.unnamed, mapping={"4": 4, "15": 15})  # what a batch records before its fetch ends
    fetcher = ProfileFetcher(redis_client, keys, {"bootstrap.servers": kafka_broker.bootstrap}, topic)
    assert fetcher.resume() == 2
    fetcher.close()
    assert _names(redis_client, keys, ["4", "15"]) == {"4": "F4 L4", "15": "F15 L15"}
    assert redis_client.exists(keys.unnamed) == 0


def test_a_failed_fetch_is_raised_and_leaves_its_users_recorded(kafka_broker, topic, redis_client):
    keys = RedisKeys("p")
    broken = {"bootstrap.servers": kafka_broker.bootstrap, "no.such.property": "1"}  # the consumer refuses it
    fetcher = ProfileFetcher(redis_client, keys, broken, topic)
    fetcher.submit([("5", 5)])
    with pytest.raises(Exception, match="no.such.property"):
        fetcher.close()
    assert redis_client.hgetall(keys.unnamed) == {"5": "5"}
    assert redis_client.hget(keys.user("5"), "name") is None
