"""Prints the Http_* variables the watchdog sets from the request (method, path, query, headers), sorted."""

import os
import sys


def main() -> None:
    sys.stdin.read()  # the body is not used, but a watchdog expects it consumed
    for key in sorted(key for key in os.environ if key.startswith("Http_")):
        sys.stdout.write(f"{key}={os.environ[key]}\n")


if __name__ == "__main__":
    main()
