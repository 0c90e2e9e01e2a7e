"""``python -m faasq``: the ``faasq`` command without the console script."""

from faasq.cli import main

main()
