"""A Griffe extension (mkdocs.yml, mkdocstrings ``extensions:``): hepml's docstrings are
written for Sphinx and ``help()``; this renders their reST markup as Markdown.

- ``:func:`hepml.folds.fold_of_event``` (any role: func, class, meth, mod, attr, exc, data,
  obj), with or without ``~``: inline code of the name as written (``~`` keeps the last part);
- a paragraph ending with ``::`` before an indented literal block: the ``::`` becomes ``:``
  (as Sphinx shows it), the indented block is then a Markdown code block.

``double backquotes`` are already Markdown code.
"""

from __future__ import annotations

import re

from griffe import Extension

_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|exc|data|obj|const):`(?P<target>[^`]+)`")
_LITERAL = re.compile(r"(?<=\S)::$", re.MULTILINE)


def _name(match: re.Match) -> str:
    target = match["target"]
    text, _, explicit = target.partition(" <")  # :func:`title <target>`
    if explicit:
        return f"`{text}`"
    if target.startswith("~"):
        target = target[1:].rsplit(".", 1)[-1]
    return f"`{target}`"


def markdown(text: str) -> str:
    """``text`` with the reST markup above turned into Markdown."""
    return _LITERAL.sub(":", _ROLE.sub(_name, text))


class SphinxRoles(Extension):
    """Rewrite every docstring once the object tree is loaded."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)

    def on_package(self, *, pkg, **kwargs) -> None:
        self.on_object(obj=pkg)  # the package itself is not among the objects
