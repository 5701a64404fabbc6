"""SO-TimeZone: the IANA zone SuperOffice's clients ask date-times in."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Annotated

from fastapi import Header

from ._errors import RequestRefusedError

__all__ = ["ResponseZone", "in_zone", "response_zone", "zone_of"]


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise RequestRefusedError(
            400, f"{name!r} is not a known IANA time zone (such as Europe/Oslo or UTC)", field="SO-TimeZone"
        ) from None


async def response_zone(
    so_timezone: Annotated[
        str | None,
        Header(
            alias="SO-TimeZone",
            description="An IANA time zone (Europe/Oslo); date-times in the response are converted to it.",
        ),
    ] = None,
) -> dt.tzinfo | None:
    """The zone named by the SO-TimeZone header, or None (date-times stay in UTC).

    A coroutine only so that FastAPI calls it on the event loop rather than on a thread (a hop of ~100 µs).
    """
    return zone_of(so_timezone)


def zone_of(so_timezone: str | None) -> dt.tzinfo | None:
    """The zone an SO-TimeZone header's value names, or None (none, or blank); a 400 for an unknown zone.

    >>> zone_of(None), zone_of("UTC")
    (None, zoneinfo.ZoneInfo(key='UTC'))
    """
    if so_timezone is None or not so_timezone.strip():
        return None
    return _zone(so_timezone.strip())


ResponseZone = dt.tzinfo | None


def in_zone(value: dt.datetime | None, zone: dt.tzinfo | None) -> str | None:
    """ISO 8601 with the offset of ``zone`` (UTC when None). It cannot fail, so a response built after a commit
    cannot turn into an error.

    Every date-time batchstore accepts lies a day inside the calendar (``batchstore._fields.EARLIEST`` ..
    ``LATEST``), so any zone can show it. One an earlier release stored at the very edge (0001-01-01, say)
    is shown in UTC, the same instant, rather than not at all.

    >>> in_zone(dt.datetime(2024, 11, 27, 13, tzinfo=dt.UTC), zoneinfo.ZoneInfo("Europe/Oslo"))
    '2024-11-27T14:00:00+01:00'
    >>> in_zone(dt.datetime(1, 1, 1, tzinfo=dt.UTC), zoneinfo.ZoneInfo("America/New_York"))
    '0001-01-01T00:00:00+00:00'
    """
    if value is None:
        return None
    if zone is not None:
        try:
            return value.astimezone(zone).isoformat()
        except (OverflowError, ValueError):
            pass
    return value.isoformat()
