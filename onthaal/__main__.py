"""``python -m onthaal`` is the same as the ``onthaal`` command."""

from onthaal.cli import entry

entry()
