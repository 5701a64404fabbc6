"""``python -m batchstore.server --db tasks.db [--host] [--port] [--token] [--allowed-host NAME]... [--workers N]``.

The same as ``batchstore serve``; refusals print one line to stderr and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .._exceptions import BatchStoreError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m batchstore.server", description=__doc__)
    parser.add_argument("--db", required=True, help="SQLite file (created if missing) or database URL")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' on every route")
    parser.add_argument("--allowed-host", action="append", default=[], metavar="NAME",
                        help="a host name clients may use besides loopback ones (repeatable; '*': any)")
    parser.add_argument("--max-body-bytes", type=int, default=1024 * 1024)
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="worker processes answering on the same port, each with its own store (default 1)")
    args = parser.parse_args(argv)
    try:
        from . import serve

        serve(args.db, host=args.host, port=args.port, token=args.token, max_body_bytes=args.max_body_bytes,
              allowed_hosts=args.allowed_host, workers=args.workers)
    except BatchStoreError as exc:
        print(f"batchstore serve: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
