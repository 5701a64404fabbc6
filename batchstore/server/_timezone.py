"""SO-TimeZone: the IANA zone SuperOffice's clients ask date-times in."""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from typing import Annotated

from fastapi import Header

from ._errors import RequestRefusedError

__all__ = ["ResponseZone", "in_zone", "response_zone"]


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise RequestRefusedError(
            400, f"{name!r} is not a known IANA time zone (such as Europe/Oslo or UTC)", field="SO-TimeZone"
        ) from None


def response_zone(
    so_timezone: Annotated[
        str | None,
        Header(
            alias="SO-TimeZone",
            description="An IANA time zone (Europe/Oslo); date-times in the response are converted to it.",
        ),
    ] = None,
) -> dt.tzinfo | None:
    """The zone named by the SO-TimeZone header, or None (date-times stay in UTC)."""
    if so_timezone is None or not so_timezone.strip():
        return None
    return _zone(so_timezone.strip())


ResponseZone = dt.tzinfo | None


def in_zone(value: dt.datetime | None, zone: dt.tzinfo | None) -> str | None:
    """ISO 8601 with the offset of ``zone`` (UTC when None).

    >>> in_zone(dt.datetime(2024, 11, 27, 13, tzinfo=dt.UTC), zoneinfo.ZoneInfo("Europe/Oslo"))
    '2024-11-27T14:00:00+01:00'
    """
    if value is None:
        return None
    return (value if zone is None else value.astimezone(zone)).isoformat()
