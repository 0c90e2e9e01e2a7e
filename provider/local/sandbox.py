"""A replica's own mount and UTS namespaces, and its own network where it needs one, entered before its watchdog.

The local provider starts each replica's watchdog through this file, run by path with the
standard library alone (``python -I -S sandbox.py --hostname H [--secrets DIR] [--network
private] -- argv...``): it names the replica's host after the replica; bind-mounts the
replica's secrets read-only at ``/var/openfaas/secrets``, where OpenFaaS functions read them;
with ``--network private`` leaves the machine's network for a namespace of its own with only
loopback, up, so a function's fixed port (5000 for OpenFaaS's Python templates) is private
to its replica; then execs the watchdog.

The watchdog's listening socket is made by the provider, on a loopback port the kernel
chose, and inherited: a socket keeps the namespace it was made in, so the provider reaches
the watchdog as before, and nothing the function binds can collide with it.

As root, ``unshare`` takes the namespaces directly; otherwise inside a user namespace of its
own, where the kernel allows unprivileged ones. The provider runs :data:`PROBE` through this
file once, at start-up, to learn whether this machine can do it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import socket
import struct
import sys
from pathlib import Path

__all__ = ["OPENFAAS_SECRETS", "PROBE", "enter", "main", "sandboxed"]

OPENFAAS_SECRETS = Path("/var/openfaas/secrets")
PROBE = [sys.executable, "-I", "-S", "-c", ""]
"""A command that does nothing: run through :func:`sandboxed`, it tells whether the namespaces can be made."""

_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_MS_RDONLY = 0x1
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_PR_SET_DUMPABLE = 4
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = struct.Struct("16sH")


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _unshare(libc: ctypes.CDLL, network: bool) -> None:
    flags = _CLONE_NEWNS | _CLONE_NEWUTS | (_CLONE_NEWNET if network else 0)
    if os.geteuid() == 0:
        _check(libc.unshare(flags), "unshare(CLONE_NEWNS|CLONE_NEWUTS" + ("|CLONE_NEWNET)" if network else ")"))
        return
    uid, gid = os.geteuid(), os.getegid()
    libc.prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # else /proc/self/*_map are not ours to write
    _check(libc.unshare(flags | _CLONE_NEWUSER), "unshare(CLONE_NEWUSER|...) as an unprivileged user")
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        flags = _IFREQ.unpack(fcntl.ioctl(sock, _SIOCGIFFLAGS, _IFREQ.pack(b"lo", 0))[: _IFREQ.size])[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, _IFREQ.pack(b"lo", flags | _IFF_UP))


def _mount_secrets(libc: ctypes.CDLL, source: Path) -> bool:
    """Bind ``source`` read-only at /var/openfaas/secrets; False if this machine has no place for it."""
    # Private first: the bind mount must not show in the machine's mount namespace.
    _check(libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None), "making mounts private")
    source.mkdir(parents=True, exist_ok=True)
    try:
        OPENFAAS_SECRETS.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False  # not root, and nobody made it: the secrets stay where secret_mount_path says
    target = bytes(OPENFAAS_SECRETS)
    _check(libc.mount(bytes(source), target, None, _MS_BIND, None), f"binding {source} at {OPENFAAS_SECRETS}")
    _check(libc.mount(None, target, None, _MS_BIND | _MS_REMOUNT | _MS_RDONLY, None), "remounting read-only")
    return True


def enter(hostname: str, secrets: Path | None, *, network: bool) -> Path | None:
    """Move this process into namespaces of its own; the folder its secrets are now at, if it moved them.

    Args:
        hostname: the namespace's host name.
        secrets: the replica's secrets, to show at /var/openfaas/secrets.
        network: leave the machine's network for one with only loopback.

    Raises:
        OSError: the kernel refused one of the steps; the message names it.
    """
    libc = _libc()
    _unshare(libc, network)
    if network:
        _loopback_up()
    socket.sethostname(hostname)
    if secrets is not None and _mount_secrets(libc, secrets):
        return OPENFAAS_SECRETS
    return None


def sandboxed(command: list[str], *, hostname: str, secrets: Path | None, network: bool) -> list[str]:
    """The argv that runs ``command`` through this file, in namespaces of its own (a network too with ``network``)."""
    options = ["--hostname", hostname, *(["--secrets", str(secrets)] if secrets is not None else [])]
    options += ["--network", "private" if network else "host"]
    return [sys.executable, "-I", "-S", str(Path(__file__).resolve()), *options, "--", *command]


def main(argv: list[str]) -> None:
    """``sandbox.py --hostname H [--secrets DIR] [--network private|host] -- COMMAND...``: isolate, then exec."""
    hostname, secrets, network, command = _parse(argv)
    try:
        moved = enter(hostname, secrets, network=network)
    except OSError as exc:
        sys.exit(f"faasq sandbox: cannot isolate replica {hostname}: {exc}")
    environ = dict(os.environ)
    if moved is not None:
        environ["secret_mount_path"] = str(moved)
    os.execvpe(command[0], command, environ)  # noqa: S606 - the watchdog's argv, from the provider


_USAGE = "usage: sandbox.py --hostname NAME [--secrets DIR] [--network private|host] -- COMMAND..."


def _parse(argv: list[str]) -> tuple[str, Path | None, bool, list[str]]:
    if "--" not in argv:
        sys.exit(_USAGE)
    split = argv.index("--")
    options, command = argv[:split], argv[split + 1 :]
    values = dict(zip(options[::2], options[1::2], strict=False))
    if "--hostname" not in values or not command or values.get("--network", "host") not in ("private", "host"):
        sys.exit(_USAGE)
    secrets = Path(values["--secrets"]) if "--secrets" in values else None
    return values["--hostname"], secrets, values.get("--network") == "private", command


if __name__ == "__main__":
    main(sys.argv[1:])
