"""A griffe extension: batchstore's docstrings, written for ``help()`` and doctest, read as Markdown.

The docstrings are plain text with reST touches: ``>>>`` examples (which doctest runs), ``::`` before an
indented block, and roles such as :class:`~batchstore.BatchStore`. Markdown would read a doctest's output
``['create']`` as a link and a role as text with colons, so this extension, loaded by mkdocstrings
(``mkdocs.yml``), fences each run of ``>>>`` lines with its output as ``pycon`` and turns a role into inline
code naming its target's last part. The source keeps one spelling; only the rendered page changes.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|meth|func|attr|mod|data|exc|obj):`(~?)([^`]+)`")


def _role(match: re.Match[str]) -> str:
    # reST's ~ shows the target's last part only, as Sphinx does.
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def markdown(text: str) -> str:
    """The docstring ``text`` with its doctests fenced and its roles as inline code.

    >>> markdown("Hello.\\n\\n>>> 1 + 1\\n2\\n\\nBye :class:`~a.B`.").splitlines()
    ['Hello.', '', '```pycon', '>>> 1 + 1', '2', '```', '', 'Bye `B`.']
    """
    lines = text.splitlines()
    out: list[str] = []
    fence = False
    for line in lines:
        stripped = line.strip()
        if not fence and stripped.startswith(">>>"):
            fence = True
            out.append("```pycon")
        elif fence and not stripped:
            out.append("```")
            fence = False
        if not fence:
            line = _ROLE.sub(_role, line)
            if line.rstrip().endswith("::") and not line.rstrip().endswith(":::"):
                line = line.rstrip()[:-1]  # reST's "::" before a literal block: one colon in Markdown
        out.append(line)
    if fence:
        out.append("```")
    return "\n".join(out)


class DocstringsAsMarkdown(griffe.Extension):
    """Rewrites every docstring griffe reads (see the module's docstring)."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
