"""What the server needs before any third-party import: its errors, its options, and the bind check.

Kept free of FastAPI and uvicorn imports, so ``import batchstore.server`` can say what to install
when they are missing, and the command line can check options before it loads them.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable
from typing import Final

from .._exceptions import BatchStoreError, ConfigurationError

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_PORT",
    "INSTALL_HINT",
    "ServerConfigurationError",
    "ServerUnavailableError",
    "allowed_host_names",
    "answers_to",
    "check_bind",
    "check_workers",
    "host_name",
]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8000
#: Request bodies above this many bytes are refused with 413 (``create_app(max_body_bytes=...)``).
DEFAULT_MAX_BODY_BYTES: Final = 1024 * 1024
INSTALL_HINT: Final = 'pip install "batchstore[server]"'


class ServerUnavailableError(BatchStoreError, ImportError):
    """The HTTP server's packages (FastAPI, uvicorn) are not installed; the message says how to install them."""


class ServerConfigurationError(ConfigurationError):
    """A server option is refused (a public address without a token, say); ``option`` names it.

    >>> ServerConfigurationError("must be 1 or more", option="max_body_bytes").option
    'max_body_bytes'
    """


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only: ``localhost`` or an address in 127.0.0.0/8 or ``::1``.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve to anything


def host_name(host: str) -> str:
    """The name a ``Host`` header (or an ``--allowed-host`` value) gives: lower case, no port, no final dot.

    >>> host_name("LocalHost:8000"), host_name("[::1]:8000"), host_name("tasks.example.")
    ('localhost', '[::1]', 'tasks.example')
    """
    text = host.strip().lower()
    if text.startswith("["):  # an IPv6 address, bracketed, maybe with a port
        end = text.find("]")
        return text[: end + 1] if end != -1 else text
    name = text.partition(":")[0]
    return name[:-1] if name.endswith(".") else name


def allowed_host_names(names: Iterable[str]) -> frozenset[str] | None:
    """The host names a server answers to besides loopback ones; None when ``"*"`` lets any through.

    >>> sorted(allowed_host_names(["Tasks.example:8000", "10.0.0.5"]))
    ['10.0.0.5', 'tasks.example']
    >>> allowed_host_names(["*"]) is None
    True
    """
    if isinstance(names, str):
        names = [names]
    allowed = set()
    for name in names:
        if not isinstance(name, str) or not host_name(name) or any(c in name for c in " /\\@?#"):
            raise ServerConfigurationError(f"{name!r} is not a host name (such as tasks.example)",
                                           option="allowed_host")
        if name.strip() == "*":
            return None
        allowed.add(host_name(name))
    return frozenset(allowed)


def answers_to(name: str, allowed: frozenset[str] | None) -> bool:
    """Whether a server whose extra names are ``allowed`` answers a request for host ``name`` (see host_name).

    >>> answers_to("127.0.0.1", frozenset()), answers_to("[::1]", frozenset()), answers_to("evil.example", frozenset())
    (True, True, False)
    """
    return allowed is None or name in allowed or is_loopback(name)


def check_listen(host: str, port: int) -> None:
    """ServerConfigurationError unless ``host`` resolves and ``port`` is free there: one line, not a server's log.

    >>> check_listen("no-such-host.invalid", 8000)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore.server._setup.ServerConfigurationError: host: cannot resolve 'no-such-host.invalid'...
    """
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except OSError as exc:
        raise ServerConfigurationError(f"cannot resolve {host!r}: {exc.strerror or exc}", option="host") from None
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            raise ServerConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                                           option="port") from None


def check_workers(workers: int, db: object) -> None:
    """ServerConfigurationError unless ``workers`` is 1 or more, and a path or URL when more than 1.

    >>> check_workers(4, "tasks.db")
    >>> check_workers(0, "tasks.db")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore.server._setup.ServerConfigurationError: workers: must be 1 or more...
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ServerConfigurationError(f"must be 1 or more worker processes, got {workers!r}", option="workers")
    if workers > 1 and not isinstance(db, (str, os.PathLike)):
        raise ServerConfigurationError(
            "several workers each open their own store: give the database's path or URL, not a BatchStore",
            option="workers",
        )


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on an address other machines can reach unless a token guards every route.

    >>> check_bind("127.0.0.1", None)
    >>> check_bind("0.0.0.0", None)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    batchstore.server._setup.ServerConfigurationError: host: 0.0.0.0 is reachable from other machines; pass a token...
    """
    if token is not None and not token:
        raise ServerConfigurationError("an empty token would let anyone in; give a secret or none", option="token")
    if not is_loopback(host) and token is None:
        raise ServerConfigurationError(
            f"{host} is reachable from other machines; pass a token (--token SECRET) to serve it, or bind 127.0.0.1",
            option="host",
        )
