"""Text for the page: escaped event text, times, ages and redacted URLs.

Names and locations come from the event stream, i.e. from users; anything rendered as Markdown must be
escaped so that text like ``[x](http://evil)`` or ``**boss**`` shows literally instead of as a link or bold.
"""
from __future__ import annotations

import string
from datetime import datetime, timezone

from contracts.redaction import redact_url  # noqa: F401  (the page's import; defined once in contracts)

_MD_SPECIAL = set(string.punctuation)


ZWSP = "\u200b"


def escape_markdown(text: object) -> str:
    """Backslash-escape every ASCII punctuation character (CommonMark allows it for all of them), so event
    text cannot form links, images, emphasis, HTML, LaTeX (``$``) or Streamlit directives (``:red[..]``).

    GFM also turns bare URLs and e-mail addresses into links *after* unescaping, so an invisible zero-width
    space breaks ``://``, ``www.`` and ``@``; the visible text is unchanged. Longer free text (names,
    locations) is better shown with ``st.text``, which never interprets anything.
    """
    out = "".join("\\" + c if c in _MD_SPECIAL else c for c in str(text)).replace("\n", " ")
    return (out.replace("\\:\\/\\/", "\\:" + ZWSP + "\\/\\/").replace("\\@", ZWSP + "\\@")
            .replace("www\\.", "www" + ZWSP + "\\."))


def fmt_time(ms: int | None) -> str:
    """Epoch milliseconds as UTC ``YYYY-MM-DD HH:MM:SS``; "—" when unknown."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def fmt_day(ms: int | None) -> str:
    """The day of an event time, short enough for a headline tile: ``20 Nov``."""
    if ms is None:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%d %b")


def fmt_clock_time(ms: int | None) -> str | None:
    """The rest of it, for the tile's second line: ``2018 · 14:05 UTC``."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y · %H:%M UTC")


def fmt_span(ms: float | None) -> str:
    """A duration in the largest sensible unit: ``850 ms``, ``12 s``, ``4 min``, ``3.5 h``, ``2.1 d``."""
    if ms is None:
        return "—"
    s = ms / 1000
    if abs(s) < 1:
        return f"{ms:.0f} ms"
    if abs(s) < 60:
        return f"{s:.0f} s"
    if abs(s) < 3600:
        return f"{s / 60:.0f} min"
    if abs(s) < 86_400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} d"


def fmt_ago(then_ms: int | None, now_ms: int | None) -> str:
    """``3 s ago`` style age of ``then_ms`` on the clock ``now_ms``."""
    if then_ms is None or now_ms is None:
        return "—"
    return f"{fmt_span(max(now_ms - then_ms, 0))} ago"


def fmt_number(value: float | int | None, decimals: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{decimals}f}"


def fmt_value(value: object) -> str:
    """A feature value: integers without decimals, floats with up to 4 significant decimals."""
    if isinstance(value, bool) or value is None:
        return str(value) if value is not None else "—"
    if isinstance(value, (int, float)):
        return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1 else f"{value:.4g}"
    return str(value)


def fmt_count(value: int | None) -> str:
    """A count short enough for a narrow tile: ``987``, ``12.3k``, ``4.5M``."""
    if value is None:
        return "—"
    if abs(value) < 10_000:
        return f"{value:,}"
    if abs(value) < 1_000_000:
        return f"{value / 1000:.1f}k"
    return f"{value / 1_000_000:.1f}M"
