"""The ``eventscope`` package itself: ``eventscope.core`` (plain Python), ``eventscope.gui`` (Qt) and
``eventscope.resources``.

The repository keeps ``core/``, ``gui/`` and ``resources/`` at its top level; ``pyproject.toml``
maps them under this one package, so an install adds a single top-level name, ``eventscope``.
"""

from eventscope.core import __version__

__all__ = ["__version__"]
