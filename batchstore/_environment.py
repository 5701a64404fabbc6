"""Reading batchstore's environment variables: the one rule, an empty value is no value."""

from __future__ import annotations

import os

__all__ = ["environment_value"]


def environment_value(name: str) -> str | None:
    """The value of the environment variable ``name``, or None when it is unset, empty or only spaces.

    ``BATCHSTORE_TEST_URL=`` (set, empty) means what leaving it out means, as click treats the command
    line's variables (``BATCHSTORE_DB``, ``BATCHSTORE_TOKEN``): the pytest plugin and the test suite's
    helpers read theirs through this function.

    >>> os.environ["BATCHSTORE_EXAMPLE"] = ""
    >>> environment_value("BATCHSTORE_EXAMPLE") is None
    True
    >>> del os.environ["BATCHSTORE_EXAMPLE"]
    """
    value = os.environ.get(name)
    return value if value is not None and value.strip() else None
