"""A slow classic-watchdog function: sleeps ``SLEEP_SECONDS`` (default 2), then echoes the body.

Good for watching async calls queue up, workers run several at once, and ``exec_timeout`` fire.
"""

import os
import sys
import time


def main() -> None:
    body = sys.stdin.buffer.read()
    time.sleep(float(os.environ.get("SLEEP_SECONDS", "2")))
    sys.stdout.buffer.write(body)


if __name__ == "__main__":
    main()
