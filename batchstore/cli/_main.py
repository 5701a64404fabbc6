"""The command group, the ``verb`` decorator every verb uses, and the exit policy.

Exit policy: 0 done; 1 refused (one line on stderr, ``batchstore: ...``); 2 usage error (one line, with
``usage``); 130 interrupted (Ctrl-C); 141 when the reader of stdout went away (``| head``), as for a
process that SIGPIPE ended. Never a traceback.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from .. import __version__
from .._exceptions import BatchStoreError
from .._store import BatchStore
from ._output import Form, Output, choose_form
from ._target import check_target

__all__ = ["ENV_DB", "Session", "cli", "main", "verb"]

#: The environment variable that stands in for ``--db``.
ENV_DB = "BATCHSTORE_DB"
_DB_HELP = "A SQLite file, or a sqlite:/// or postgresql://user:password@host/db URL."

F = TypeVar("F", bound=Callable[..., int | None])


class PipeClosed(Exception):
    """The reader of stdout went away (``| head``)."""


class Session:
    """What a verb works with: ``out`` to print, ``store`` opened on first use and closed after the verb."""

    def __init__(self, db: str | None, *, reads: bool, creates: bool, out: Output) -> None:
        self.db = db
        self.out = out
        self._reads = reads
        self._creates = creates
        self._store: BatchStore | None = None

    def target(self, *, must_exist: bool = False) -> str:
        """The database ``--db`` names, checked (a usage error without one): for the verbs that open it."""
        if self.db is None:
            raise click.UsageError(f"Missing option '--db' (or set {ENV_DB})")
        check_target(self.db, must_exist=must_exist)
        return self.db

    @property
    def store(self) -> BatchStore:
        if self._store is None:
            self._store = _open(self.target(must_exist=not self._creates), read_only=self._reads)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _open(db: str, *, read_only: bool) -> BatchStore:
    return BatchStore(db, read_only=read_only)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="batchstore", message="%(prog)s %(version)s")
# --db before the verb (`batchstore --db tasks.db list`), as people type it after `git -C` or `docker -H`:
# the verb's own --db, when given, still wins.
@click.option("--db", "group_db", metavar="PATH|URL", default=None,
              help="The database of the verb that follows, as the verb's own --db.")
def cli(group_db: str | None) -> None:
    """Batch tasks in a SQLite file (or PostgreSQL), after SuperOffice's BatchTask API.

    On a terminal, tasks are shown as tables; in a pipe, as JSON lines (one task a line, without the
    TableRight and FieldProperties every task shares). --json prints JSON (a list is an array);
    --wire prints exactly the API's wire form. --db may come before or after the verb, or from
    BATCHSTORE_DB.
    """


def verb(
    name: str | None = None,
    *,
    reads: bool = False,
    creates: bool = False,
    prints: bool = False,
    db_default: str | None = None,
    json_lines_help: str | None = None,
    group: click.Group | None = None,
) -> Callable[[F], F]:
    """Make a function a verb of the ``batchstore`` command.

    The function takes a :class:`Session` and the command's parameters (declared with ``click.argument``
    and ``click.option`` below this decorator); its docstring is the help. It may return an exit status
    (``wait`` does); None is 0. ``reads``: the verb never
    writes, so the store opens read-only. ``creates``: a missing file may be created. ``prints``: the
    verb prints tasks, so it gets ``--json`` and ``--wire`` (``json_lines_help`` describes a ``--json`` that
    prints a stream of lines rather than one document). Every verb gets ``--db`` (from ``BATCHSTORE_DB``
    unless ``db_default`` is given); a ``--db`` before the verb counts unless the verb is given its own.
    ``group`` makes it a sub-verb (``retention set``).
    """

    def decorate(function: F) -> F:
        @functools.wraps(function)
        def run(db: str | None, as_json: bool = False, wire: bool = False, **params: Any) -> int | None:
            db = _chosen_db(db)
            form: Form = choose_form(as_json=as_json, wire=wire)
            session = Session(db, reads=reads, creates=creates, out=Output(form, select=params.get("select")))
            try:
                status: int | None = function(session, **params)  # an exit status of its own, or None: 0
                sys.stdout.flush()
                return status
            except OSError as exc:
                # Raised as itself, click would turn a closed pipe into exit status 1.
                if exc.errno == errno.EPIPE:
                    raise PipeClosed from exc
                raise
            finally:
                session.close()

        if prints:
            json_help = json_lines_help or "Print JSON (a list is an array)."
            run = click.option("--wire", is_flag=True, help="Print exactly the API's wire form (JSON).")(run)
            run = click.option("--json", "as_json", is_flag=True, help=json_help)(run)
        # Every verb's --db takes the same values, a path or a URL; only where the default comes from differs.
        if db_default is None:
            db_option = click.option("--db", envvar=ENV_DB, show_envvar=True, metavar="PATH|URL", help=_DB_HELP)
        else:
            db_option = click.option("--db", default=db_default, show_default=True, metavar="PATH|URL",
                                     help=_DB_HELP)
        command = (group or cli).command(name or function.__name__.replace("_", "-"))(db_option(run))
        return command  # type: ignore[return-value]

    return decorate


def _chosen_db(db: str | None) -> str | None:
    """The verb's --db when typed after it, else the group's --db (before the verb), else the env or default."""
    ctx = click.get_current_context()
    typed_here = ctx.get_parameter_source("db") is click.core.ParameterSource.COMMANDLINE
    # find_root: a sub-verb (`batchstore --db x retention show`) sits one group further down.
    before_verb = ctx.find_root().params.get("group_db")
    return db if typed_here or before_verb is None else str(before_verb)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _refuse(message: str, status: int) -> int:
    sys.stderr.write(_one_line(message) + "\n")
    sys.stderr.flush()
    return status


def _quiet_stdout() -> None:
    # The reader is gone: later flushes (the interpreter's own, at exit) must not raise again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``batchstore`` command; returns the exit status.

    >>> main(["--version"])  # doctest: +ELLIPSIS
    batchstore 0...
    0
    """
    from . import _verbs  # noqa: F401  (registers the verbs on the group)

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if not args:
            click.echo(cli.get_help(click.Context(cli, info_name="batchstore")))
            return 0
        status = cli.main(args=args, prog_name="batchstore", standalone_mode=False)
        sys.stdout.flush()
        return status if isinstance(status, int) else 0
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "batchstore"
        return _refuse(f"{where}: usage error: {exc.format_message()} (see '{where} --help')", 2)
    except click.ClickException as exc:
        return _refuse(f"batchstore: {exc.format_message()}", exc.exit_code)
    except click.Abort as exc:
        return 130 if isinstance(exc.__cause__, KeyboardInterrupt) else _refuse("batchstore: aborted", 1)
    except KeyboardInterrupt:
        return 130
    except PipeClosed:
        _quiet_stdout()
        return 141
    except BatchStoreError as exc:
        return _refuse(f"batchstore: {exc}", 1)
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_stdout()
            return 141
        return _refuse(f"batchstore: {exc}", 1)
    except Exception as exc:  # a bug: still one line, never a traceback
        return _refuse(f"batchstore: unexpected {type(exc).__name__}: {exc} (please report this)", 1)
