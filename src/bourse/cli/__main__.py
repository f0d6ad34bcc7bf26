"""``python -m bourse.cli``: the same as the ``bourse`` command."""

from bourse.cli import main

main()
