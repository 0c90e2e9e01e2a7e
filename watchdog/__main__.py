"""``python -m watchdog``: the same as the ``faasq-watchdog`` command."""

from watchdog.main import main

main()
