"""Small generated catalogues: songs (artist, title, length), names, US locations and user agents.

Nothing is downloaded: songs are made of word pools with a fixed seed, so every run of every machine
sees the same catalogue. Song lengths are gamma distributed with mean 249 s and sd 99 s (the mini log's
figures); play popularity is Zipf-like and independent of length, so played songs keep that mean.
Every string is JSON-escaped once here, so the simulator's hot loop only concatenates fragments.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from producer.simulator import model

CATALOGUE_SEED = 20181001
N_SONGS = 30_000
N_ARTISTS = 6_000

_ADJ = ("Blue", "Broken", "Electric", "Golden", "Silent", "Wild", "Lonely", "Burning", "Midnight", "Crystal",
        "Velvet", "Hollow", "Lost", "Neon", "Paper", "Rusty", "Sweet", "Bitter", "Cosmic", "Frozen", "Little",
        "Crimson", "Gentle", "Restless", "Faded", "Northern", "Southern", "Secret", "Endless", "Early")
_NOUN = ("Heart", "River", "Road", "Dream", "Fire", "Rain", "Sky", "Night", "Ocean", "Garden", "Mirror",
         "Train", "Summer", "Winter", "Shadow", "Light", "City", "Letter", "Echo", "Storm", "Highway", "Moon",
         "Sun", "Child", "Window", "Song", "Radio", "Island", "Stranger", "Horizon", "Wolves", "Bells")
_VERB = ("Falling", "Running", "Dancing", "Waiting", "Calling", "Dreaming", "Burning", "Fading", "Holding",
         "Leaving", "Shining", "Breathing", "Drifting", "Singing", "Turning")
_FIRST_F = ("Mary", "Jennifer", "Linda", "Patricia", "Elizabeth", "Susan", "Jessica", "Sarah", "Karen", "Nancy",
            "Lisa", "Emily", "Ashley", "Kimberly", "Donna", "Michelle", "Carol", "Amanda", "Melissa", "Deborah",
            "Stephanie", "Rebecca", "Laura", "Sharon", "Cynthia", "Kathleen", "Amy", "Angela", "Anna", "Brenda",
            "Emma", "Olivia", "Sophia", "Madison", "Chloe", "Grace", "Lily", "Zoe", "Natalie", "Hannah")
_FIRST_M = ("James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas", "Charles",
            "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul", "Andrew", "Joshua",
            "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward", "Jason", "Jeffrey", "Ryan",
            "Jacob", "Ethan", "Noah", "Logan", "Lucas", "Mason", "Liam", "Owen", "Caleb", "Colin")
_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
         "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
         "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
         "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
         "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts", "Freeman",
         "O'Brien", "Reed", "Cook", "Morgan", "Bell", "Murphy", "Bailey", "Cooper", "Richardson")
LOCATIONS = (
    "New York-Newark-Jersey City, NY-NJ-PA", "Los Angeles-Long Beach-Anaheim, CA", "Chicago-Naperville-Elgin, IL-IN-WI",
    "Dallas-Fort Worth-Arlington, TX", "Houston-The Woodlands-Sugar Land, TX", "Boston-Cambridge-Newton, MA-NH",
    "Phoenix-Mesa-Scottsdale, AZ", "Atlanta-Sandy Springs-Roswell, GA", "Miami-Fort Lauderdale-West Palm Beach, FL",
    "Seattle-Tacoma-Bellevue, WA", "Denver-Aurora-Lakewood, CO", "San Antonio-New Braunfels, TX",
    "Bakersfield, CA", "Raleigh, NC", "Tampa-St. Petersburg-Clearwater, FL", "Detroit-Warren-Dearborn, MI",
    "Minneapolis-St. Paul-Bloomington, MN-WI", "Portland-Vancouver-Hillsboro, OR-WA", "St. Louis, MO-IL",
    "Charlotte-Concord-Gastonia, NC-SC", "Pittsburgh, PA", "Sacramento--Roseville--Arden-Arcade, CA",
    "Las Vegas-Henderson-Paradise, NV", "Cincinnati, OH-KY-IN", "Kansas City, MO-KS", "Columbus, OH",
    "Indianapolis-Carmel-Anderson, IN", "Cleveland-Elyria, OH", "Nashville-Davidson--Murfreesboro--Franklin, TN",
    "Austin-Round Rock, TX", "Milwaukee-Waukesha-West Allis, WI", "Jacksonville, FL", "Memphis, TN-MS-AR",
    "Oklahoma City, OK", "Louisville/Jefferson County, KY-IN", "Richmond, VA", "New Orleans-Metairie, LA",
    "Hartford-West Hartford-East Hartford, CT", "Salt Lake City, UT", "Birmingham-Hoover, AL", "Buffalo-Cheektowaga-Niagara Falls, NY",
    "Rochester, NY", "Tucson, AZ", "Albany-Schenectady-Troy, NY", "Fresno, CA", "Omaha-Council Bluffs, NE-IA",
    "Albuquerque, NM", "Boise City, ID", "Spokane-Spokane Valley, WA", "Des Moines-West Des Moines, IA",
    "Little Rock-North Little Rock-Conway, AR", "Anchorage, AK", "Billings, MT", "Fargo, ND-MN", "Burlington, VT",
    "Santa Fe, NM", "Madison, WI", "Lexington-Fayette, KY", "Wichita, KS", "Greenville-Anderson-Mauldin, SC",
)
USER_AGENTS = (
    '"Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
    '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.125 Safari/537.36"',
    "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:31.0) Gecko/20100101 Firefox/31.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.9; rv:31.0) Gecko/20100101 Firefox/31.0",
    '"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_9_4) AppleWebKit/537.77.4 (KHTML, like Gecko) Version/7.0.5 Safari/537.77.4"',
    "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
    '"Mozilla/5.0 (iPhone; CPU iPhone OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"',
    '"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/36.0.1985.143 Safari/537.36"',
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:31.0) Gecko/20100101 Firefox/31.0",
    '"Mozilla/5.0 (iPad; CPU OS 7_1_2 like Mac OS X) AppleWebKit/537.51.2 (KHTML, like Gecko) Version/7.0 Mobile/11D257 Safari/9537.53"',
)


@dataclass(frozen=True)
class Catalogue:
    #: per song: the JSON fragment `,"artist":...,"song":...,"length":...` (escaped, ready to concatenate)
    song_fragments: tuple[str, ...]
    lengths: np.ndarray  # seconds, float
    #: cumulative play probability by song index, for inverse-CDF sampling
    cum_popularity: np.ndarray


@lru_cache(maxsize=1)
def catalogue() -> Catalogue:
    """The song catalogue (built once per process, deterministic)."""
    rng = np.random.default_rng(CATALOGUE_SEED)
    k = (model.SONG_MEAN_S / model.SONG_SD_S) ** 2
    lengths = np.round(rng.gamma(k, model.SONG_MEAN_S / k, N_SONGS), 5)
    lengths = np.maximum(lengths, 10.0)
    a = rng.integers(0, len(_ADJ), N_ARTISTS)
    b = rng.integers(0, len(_NOUN), N_ARTISTS)
    style = rng.integers(0, 4, N_ARTISTS)
    artists = []
    for i in range(N_ARTISTS):
        adj, noun = _ADJ[a[i]], _NOUN[b[i]]
        artists.append((f"The {adj} {noun}s", f"{adj} {noun}", f"{_FIRST_M[i % len(_FIRST_M)]} {noun}",
                        f"{_FIRST_F[i % len(_FIRST_F)]} & the {noun}s")[style[i]] + ("" if i < 960 else f" {i // 960}"))
    song_artist = rng.integers(0, N_ARTISTS, N_SONGS)
    w1 = rng.integers(0, len(_VERB), N_SONGS)
    w2 = rng.integers(0, len(_NOUN), N_SONGS)
    w3 = rng.integers(0, len(_ADJ), N_SONGS)
    shape = rng.integers(0, 3, N_SONGS)
    fragments = []
    for i in range(N_SONGS):
        title = (f"{_VERB[w1[i]]} {_NOUN[w2[i]]}", f"{_ADJ[w3[i]]} {_NOUN[w2[i]]}",
                 f"{_NOUN[w2[i]]} ({_VERB[w1[i]]} Mix)")[shape[i]]
        if i >= 1500:
            title += f" No. {i // 1500}"
        fragments.append(f',"artist":{json.dumps(artists[song_artist[i]])},"song":{json.dumps(title)},'
                         f'"length":{float(lengths[i])!r}')
    popularity = 1.0 / (np.arange(N_SONGS) + 20.0) ** 0.9
    cum = np.cumsum(popularity)
    return Catalogue(tuple(fragments), lengths, cum / cum[-1])


def first_names(gender: str) -> tuple[str, ...]:
    return _FIRST_F if gender == "F" else _FIRST_M


LAST_NAMES = _LAST
