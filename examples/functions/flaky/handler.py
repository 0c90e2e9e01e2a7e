"""A flaky classic-watchdog function: fails a fraction ``FAIL_RATE`` (default 0.5) of its calls.

A failing call exits with code 1, which the watchdog answers with a 500: what retries and dead
letters are for. A successful one echoes the body.
"""

import os
import random
import sys


def main() -> None:
    body = sys.stdin.buffer.read()
    if random.random() < float(os.environ.get("FAIL_RATE", "0.5")):  # noqa: S311 - not cryptography
        sys.stderr.write("flaky: failing this call on purpose\n")
        sys.exit(1)
    sys.stdout.buffer.write(body)


if __name__ == "__main__":
    main()
