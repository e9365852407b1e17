"""Griffe extension for the API site: Sphinx roles in docstrings become cross-references.

The docstrings name other objects the Sphinx way (:func:`multispike.functional.lif`,
:class:`LIF`, :meth:`TrainConfig.validate`, ``~`` to show only the last part). Markdown has no
such roles, so each one is rewritten, before rendering, as an autorefs link
``[`lif`][multispike.functional.lif]``; names from other packages (torch, numpy, os) stay code. mkdocstrings then resolves the target in the scope of
the object whose docstring holds it (``scoped_crossrefs`` in mkdocs.yml), and a target that
names nothing on the site is a warning, which ``mkdocs build --strict`` turns into a failed build.
"""
import re

import griffe

#: Packages outside multispike that the docstrings name; the site does not document them, so
#: their names stay code rather than links.
EXTERNAL = {"os", "numpy", "numba", "torch"}

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`(~?)([\w.]+)(?:\(\))?`")


def _as_crossref(match: re.Match) -> str:
    tilde, target = match.groups()
    title = target.rsplit(".", 1)[-1] if tilde else target
    if target.split(".", 1)[0] in EXTERNAL:
        return f"`{title}`"
    return f"[`{title}`][{target}]"


class SphinxRoles(griffe.Extension):
    """Rewrite the Sphinx roles of every docstring as Markdown cross-references."""

    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_as_crossref, obj.docstring.value)
