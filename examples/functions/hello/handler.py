"""A classic-watchdog function: the request body arrives on stdin, the response goes to stdout."""

import sys


def main() -> None:
    name = sys.stdin.read().strip() or "world"
    sys.stdout.write(f"Hello, {name}!\n")


if __name__ == "__main__":
    main()
