"""The ``batchstore`` command: tables for people, JSON for programs, one verb per store operation.

Loaded by ``python -m batchstore`` and the console script, never by ``import batchstore``. Each verb is
one function in :mod:`batchstore.cli._verbs`; rich is imported only to draw a table on a terminal.
"""

from ._main import main

__all__ = ["main"]
