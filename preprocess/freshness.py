"""HTTP freshness (RFC 9111) of a stored image, and what the next season does with each row.

A store keeps, beside each row's validators (ETag, Last-Modified), what the response said
about its freshness: `Cache-Control`, `Expires`, `Date` and `Age` (store/contract.py
FRESHNESS_COLUMNS). The next season's run (preprocess/previous.py) decides per row, from those
and `--revalidate`, one of three actions:

    reuse       take the stored pixels, no request at all
    revalidate  a conditional GET (If-None-Match / If-Modified-Since): 304 = reuse, 200 = new
    fetch       an unconditional GET (nothing to ask with, or the row cannot be trusted)

`--revalidate auto` follows RFC 9111: a row whose response is still fresh (section 4.2) is
reused; a stale one, or one marked `no-cache` / `no-store`, is revalidated when it has
validators and fetched when it has none. The store acts as a *private* cache (it belongs to
whoever runs the job), so `s-maxage` is kept but ignored, as section 5.2.2.10 requires of a
private cache. Freshness lifetime: `max-age`, else `Expires` - `Date`, else the heuristic of
section 4.2.2 (10% of the time since `Last-Modified`, at most HEURISTIC_MAX). A row with
neither freshness information nor validators is stale: it is fetched again (today's "no
validators -> reuse unasked" happens only under `--revalidate never`). `immutable` (RFC 8246)
is kept; it only says a fresh response needs no revalidation, which `auto` already does.
`--revalidate never` reuses every row unasked (versioned URLs); `always` revalidates every row
(fetches those without validators). A catalogue `sha256` overrides all of these: equal to the
row's hash, the row is reused unasked; different, the image is fetched.

Parsing of the header values is Werkzeug's (`parse_cache_control_header`, `parse_date`), a
dependency of TensorBoard already installed with the project; the age and lifetime arithmetic
below follows the RFC's formulas and is written here.
"""
from __future__ import annotations

import dataclasses
import email.utils
import functools
import time

from werkzeug.datastructures import ResponseCacheControl
from werkzeug.http import parse_cache_control_header, parse_date

REVALIDATE_CHOICES = ("auto", "always", "never")
HEURISTIC_FRACTION = 0.1          # of the time since Last-Modified (RFC 9111 section 4.2.2)
HEURISTIC_MAX = 7 * 24 * 3600.0   # seconds: a heuristic lifetime is never longer than a week
REUSE, REVALIDATE, FETCH = "reuse", "revalidate", "fetch"


def http_date(seconds: float) -> str:
    """An IMF-fixdate (RFC 9110 section 5.6.7) for a POSIX time."""
    return email.utils.formatdate(seconds, usegmt=True)


# A store's rows repeat the same few header values (a CDN sends one Cache-Control for all its
# images; Dates fall on the same seconds), so parsed values are cached: the launcher plans
# every record of the catalogue.
@functools.lru_cache(maxsize=4096)
def _seconds(text: str) -> float | None:
    parsed = parse_date(text) if text else None
    return parsed.timestamp() if parsed is not None else None


@functools.lru_cache(maxsize=256)
def _directives(text: str) -> ResponseCacheControl:
    return parse_cache_control_header(text, cls=ResponseCacheControl)


@dataclasses.dataclass(frozen=True)
class Freshness:
    """The freshness header fields of one stored response, as the server sent them ("" when it
    sent none; `date` is always set: a response without one gets its receive time, RFC 9110
    section 6.6.1)."""
    cache_control: str = ""
    expires: str = ""
    date: str = ""
    age: str = ""

    @classmethod
    def from_headers(cls, headers, received: float | None = None) -> "Freshness":
        """The fields of a response's headers (any mapping with .get)."""
        date = headers.get("Date") or http_date(time.time() if received is None else received)
        return cls(headers.get("Cache-Control") or "", headers.get("Expires") or "", date,
                   headers.get("Age") or "")

    @classmethod
    def from_row(cls, row: dict) -> "Freshness":
        return cls(*(row.get(f.name, "") or "" for f in dataclasses.fields(cls)))

    def as_row(self) -> dict:
        return dataclasses.asdict(self)

    def updated(self, answer: "Freshness") -> "Freshness":
        """The stored fields after a 304 (RFC 9111 section 4.3.4): Cache-Control and Expires
        the 304 carries replace the stored ones; Date and Age are the 304's (the response was
        just validated, so its age starts again from this answer)."""
        return Freshness(answer.cache_control or self.cache_control,
                         answer.expires or self.expires, answer.date, answer.age)

    @property
    def directives(self) -> ResponseCacheControl:
        return _directives(self.cache_control)

    def must_ask(self) -> bool:
        """no-cache (unqualified) or no-store: never reused without asking the server."""
        cc = self.directives
        return cc.no_cache is True or cc.no_cache == "*" or bool(cc.no_store)

    def lifetime(self, last_modified: str = "") -> float:
        """Freshness lifetime in seconds (section 4.2.1, as a private cache); 0 = stale."""
        cc = self.directives
        if "max-age" in cc:
            return float(cc.max_age) if isinstance(cc.max_age, int) and cc.max_age > 0 else 0.0
        date = _seconds(self.date)
        if self.expires:
            expires = _seconds(self.expires)  # an invalid Expires ("0") means already expired
            return max(0.0, expires - date) if expires is not None and date is not None else 0.0
        modified = _seconds(last_modified)
        if modified is not None and date is not None and date > modified:
            return min(HEURISTIC_FRACTION * (date - modified), HEURISTIC_MAX)
        return 0.0

    def current_age(self, now: float) -> float:
        """Seconds since the origin made the response (section 4.2.3). The store keeps the
        response's Date, not this machine's receive time (so that two runs against the same
        answers write the same store): the apparent age counts from Date, plus Age."""
        try:
            age = max(0.0, float(int(self.age))) if self.age else 0.0
        except ValueError:
            age = 0.0
        date = _seconds(self.date)
        return age + (max(0.0, now - date) if date is not None else float("inf"))

    def fresh(self, now: float, last_modified: str = "") -> bool:
        return self.lifetime(last_modified) > self.current_age(now)


def plan(row: dict, mode: str, now: float, expected_sha256: str | None = None) -> str:
    """What to do with a record the previous store holds: REUSE, REVALIDATE or FETCH.

    row: the previous store's etag, last_modified, sha256 and freshness fields of its source.
    """
    if expected_sha256:
        return REUSE if expected_sha256 == row["sha256"] else FETCH
    if mode == "never":
        return REUSE
    has_validators = bool(row["etag"] or row["last_modified"])
    if row["etag"].startswith("file:"):  # a file: its size and mtime are compared, no request
        return REVALIDATE
    if mode == "auto":
        freshness = Freshness.from_row(row)
        if not freshness.must_ask() and freshness.fresh(now, row["last_modified"]):
            return REUSE
    return REVALIDATE if has_validators else FETCH
