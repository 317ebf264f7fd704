"""Fixed facts of eventsim's model that are not transition probabilities.

First-page weights per (auth, level), the (method, status) of each page, and the template's scalars.
"""
from __future__ import annotations

#: weights of the first page of a session, by (auth, level) at the session's start
FIRST_PAGE: dict[tuple[str, str], dict[str, float]] = {
    ("Guest", "free"): {"About": 20, "Help": 10, "Home": 100, "Register": 30, "Error": 5},
    ("Logged In", "free"): {"About": 5, "Help": 10, "Home": 1000, "NextSong": 1500, "Error": 1},
    ("Logged In", "paid"): {"About": 5, "Help": 5, "Home": 1000, "NextSong": 1750, "Error": 1},
    ("Logged Out", "free"): {"About": 10, "Help": 10, "Home": 1000, "Login": 500, "Error": 1},
    ("Logged Out", "paid"): {"About": 10, "Help": 10, "Home": 1000, "Login": 500, "Error": 1},
}

_PUT_200 = ("NextSong", "Add to Playlist")
_PUT_307 = ("Thumbs Up", "Thumbs Down", "Add Friend", "Logout", "Login", "Save Settings", "Submit Upgrade",
            "Submit Downgrade", "Submit Registration", "Cancel")


def method_status(page: str) -> tuple[str, int]:
    """(HTTP method, status) eventsim logs for a page."""
    if page in _PUT_200:
        return "PUT", 200
    if page in _PUT_307:
        return "PUT", 307
    if page == "Error":
        return "GET", 404
    return "GET", 200


#: Hidden auths: events carry userId "" and no user fields.
HIDDEN_AUTHS = frozenset({"Guest", "Logged Out"})

# Template scalars (seconds unless said otherwise).
ALPHA_S = 90.0
BETA_S = 604_800.0
SESSION_GAP_S = 1_800.0
DAMPING = 0.09375  # fraction of a day
WEEKEND_DAMPING = 0.5
WEEKEND_RAMP_S = 360 * 60
WEEKEND_RAMP_LEAD_S = 180 * 60  # the ramp starts this long before midnight
PEAK_HOUR = 15.0
INITIAL_AUTH_WEIGHTS = {"Logged In": 10.0, "Logged Out": 1.0}
INITIAL_LEVEL_WEIGHTS = {"free": 10.0, "paid": 2.0}
SONG_MEAN_S = 249.0
SONG_SD_S = 99.0
