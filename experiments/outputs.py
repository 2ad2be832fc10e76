"""Output directories replaced whole, or not at all.

    with output_directory(args.out, field="--out", kind="run") as staging:
        results.save(staging)

Entering the context checks the path (so a bad ``--out`` fails before any
expensive work), takes an exclusive lock for it, clears what killed earlier
runs left beside it and creates an empty staging directory next to it, on the
same filesystem. Everything is written into the staging directory; when the
block ends normally the staging directory replaces ``--out`` in one step, and
when it raises (Ctrl-C included) the staging directory is removed and
``--out`` is left as it was.

The swap is ``renameat2(RENAME_EXCHANGE)`` (Linux ≥ 3.15 on ext4, xfs, btrfs,
tmpfs, ...): one system call exchanges the two directories, so after a kill at
any moment ``--out`` holds the complete old set or the complete new one. Where
the exchange is unavailable the fallback is two renames, ``--out`` → a hidden
``-old-`` directory, then staging → ``--out``; a kill between them leaves
``--out`` missing for a while, and the next run on it renames the old set back
before it does anything else.

Each set holds a marker file, ``.scsim-output``, naming the command and the
files it wrote, so that a later run recognises its own directories and never
replaces a directory holding anything else.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

from sim.errors import UserError

MARKER = ".scsim-output"
# Directories written before the marker existed: only regular files, one of them a main file of some command.
LEGACY_MAIN_FILES = frozenset({"manifest.json", "forecast.json", "summary.json", "calibration.json"})

_AT_FDCWD = -100
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
# renameat2 errors meaning "not supported here" (old kernel, or a filesystem without the flag), not "failed".
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


class OutputError(UserError):
    """An output path cannot be used: it is not a directory, not writable, busy, or holds other files."""


@contextlib.contextmanager
def output_directory(out: str | os.PathLike[str], field: str = "--out", kind: str = "output") -> Iterator[Path]:
    """Yield an empty staging directory that replaces ``out`` whole when the block succeeds.

    Args:
        out: The output directory as the user gave it (a string, so that an empty ``--out ""`` can be told
            from ``.``). It may exist (empty, or written by scsim) or not; missing parents are created.
        field: The option named in error messages.
        kind: What is written (``"run"``, ``"forecast"``, ...), recorded in the marker file.

    Yields:
        The staging directory: write every file of the set into it.

    Raises:
        OutputError: On entry, before the block runs: ``out`` is empty, not a directory, not writable, locked
            by another scsim process, or a non-empty directory that scsim did not write. At the end: files
            that scsim did not write appeared in ``out`` meanwhile, or the new set cannot be moved there
            (``out`` is then left as it was).
    """
    shown = os.fspath(out)
    target = _resolve(shown, field)
    created = _make_parents(target.parent, shown, field)
    try:
        lock = DirectoryLock.acquire(target, shown, field)
    except BaseException:
        _remove_empty(created)
        raise
    committed = False
    try:
        try:
            _recover(target)
            _check_replaceable(target, shown, field)
        except OSError as err:
            raise OutputError(f"{field}: cannot use {shown}: {err.strerror or err}") from None
        staging = _new_sibling(target, "new", shown, field)
        try:
            yield staging
            _commit(staging, target, kind, shown, field)
            committed = True
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    finally:
        lock.release()
        if not committed:
            _remove_empty(created)


def _resolve(shown: str, field: str) -> Path:
    if not shown:
        raise OutputError(f"{field}: must not be empty; give an output directory")
    # Resolving symlinks keeps a symlinked --out a symlink (the directory it points to is replaced) and
    # puts the staging directory on the same filesystem as the directory it replaces.
    target = Path(os.path.realpath(shown))
    if target.parent == target:
        raise OutputError(f"{field}: {shown} is a filesystem root; give a directory below it")
    if os.path.lexists(target) and not target.is_dir():
        raise OutputError(f"{field}: {shown} exists and is not a directory")
    return target


def _make_parents(parent: Path, shown: str, field: str) -> list[Path]:
    """Create the missing parents of ``--out``; returns those created, deepest last."""
    missing = []
    existing = parent
    while not os.path.lexists(existing):
        missing.append(existing)
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"{field}: cannot create {shown}: {existing} is not a directory")
    created = []
    try:
        for directory in reversed(missing):
            directory.mkdir()
            created.append(directory)
    except OSError as err:
        _remove_empty(created)
        raise OutputError(f"{field}: cannot create {shown}: {err.strerror or err}") from None
    return created


def _remove_empty(created: list[Path]) -> None:
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def locked_directory(out: str, field: str = "--out") -> tuple[Path, DirectoryLock]:
    """``out`` created if missing and locked for one writer: (its resolved path, the lock).

    For stores that fill a directory over several runs (sweeps, the calibration
    ensemble) rather than swapping it in whole like ``output_directory``.
    """
    if not out:
        raise OutputError(f"{field}: must not be empty; give a directory")
    root = Path(out).resolve()
    if root.exists() and not root.is_dir():
        raise OutputError(f"{field}: {out} exists and is not a directory")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"{field}: cannot create {out}: {err.strerror or err}") from None
    return root, DirectoryLock.acquire(root, out, field)


class DirectoryLock:
    """An exclusive ``flock`` on ``.<name>.lock`` beside ``--out``; the kernel drops it when the process dies."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path, self.fd = path, fd

    @classmethod
    def acquire(cls, target: Path, shown: str, field: str) -> DirectoryLock:
        path = target.parent / f".{target.name}.lock"
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as err:
                raise OutputError(f"{field}: cannot create files in {target.parent}: {err.strerror or err}") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
                os.close(fd)
                pid = f" (pid {holder})" if holder.isdigit() else ""
                raise OutputError(
                    f"{field}: {shown} is being written by another scsim process{pid}; "
                    "wait for it to finish or choose another directory"
                ) from None
            # A holder unlinks the file before unlocking it, so a lock won on an unlinked file is no lock: retry.
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            mine = os.fstat(fd)
            if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        # Unlock explicitly: forked worker processes may still share this open file description.
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _siblings(target: Path) -> list[Path]:
    """Staging (``new``) and old-set (``old``) directories of ``target`` left by earlier runs."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.scsim-(new|old)-[0-9a-f]{{8}}")
    with os.scandir(target.parent) as entries:
        return sorted(Path(e.path) for e in entries if pattern.fullmatch(e.name))


def _recover(target: Path) -> None:
    """Undo what killed runs left (called with the lock held, so no live run owns these directories)."""
    leftovers = _siblings(target)
    old = [path for path in leftovers if ".scsim-old-" in path.name]
    if old and not os.path.lexists(target):
        # The two-rename fallback was killed between its renames: the old set is complete, put it back.
        os.rename(old[0], target)
        leftovers.remove(old[0])
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)


def _check_replaceable(target: Path, shown: str, field: str) -> None:
    """Refuse to replace a directory holding anything scsim did not write (no user file is ever lost)."""
    if not os.path.lexists(target):
        return
    if not target.is_dir():
        raise OutputError(f"{field}: {shown} exists and is not a directory")
    with os.scandir(target) as scan:
        entries = {entry.name: entry.is_file(follow_symlinks=False) for entry in scan}
    if not entries:
        return
    written = _read_marker(target)
    if written is not None:
        foreign = sorted(set(entries) - written - {MARKER})
        if not foreign:
            return
        raise OutputError(
            f"{field}: {shown} holds {foreign[0]!r}, which scsim did not write; move it or choose another directory"
        )
    if all(entries.values()) and LEGACY_MAIN_FILES & set(entries):
        return
    raise OutputError(f"{field}: {shown} is a non-empty directory that scsim did not write; choose a new or empty one")


def _read_marker(directory: Path) -> set[str] | None:
    try:
        marker = json.loads((directory / MARKER).read_text())
        return {str(name) for name in marker["files"]}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _new_sibling(target: Path, role: str, shown: str, field: str) -> Path:
    while True:
        path = target.parent / f".{target.name}.scsim-{role}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
        except OSError as err:
            raise OutputError(f"{field}: cannot create files in {target.parent}: {err.strerror or err}") from None


def _commit(staging: Path, target: Path, kind: str, shown: str, field: str) -> None:
    """Mark the staging set, flush it to disk and swap it in."""
    try:
        names = sorted(os.listdir(staging))
        marker = {"scsim_output": kind, "files": names}
        (staging / MARKER).write_text(json.dumps(marker, indent=1) + "\n")
        for name in [*names, MARKER]:
            _fsync(staging / name)
        _fsync(staging)
        # Files may have appeared in --out while this run worked; check again just before replacing it.
        _check_replaceable(target, shown, field)
    except OSError as err:
        raise OutputError(f"{field}: cannot write {shown}: {err.strerror or err}") from None
    with sigint_ignored():
        try:
            old = _swap(staging, target)
        except OSError as err:
            raise OutputError(f"{field}: cannot move the new output into {shown}: {err.strerror or err}") from None
        # From here on the new set is in place: what follows is tidying, and must not report a failure.
        with contextlib.suppress(OSError):
            _fsync(target.parent)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _swap(staging: Path, target: Path) -> Path | None:
    """Put ``staging`` at ``target``; returns where the old set now is (to delete), if there was one."""
    if not os.path.lexists(target):
        if _renameat2(staging, target, _RENAME_NOREPLACE) is None:
            os.rename(staging, target)
        return None
    if _renameat2(staging, target, _RENAME_EXCHANGE) is not None:
        return staging
    old = target.parent / f".{target.name}.scsim-old-{secrets.token_hex(4)}"
    os.rename(target, old)
    os.rename(staging, target)
    return old


def _renameat2(source: Path, destination: Path, flags: int) -> bool | None:
    """``renameat2``; True when done, None when this system or filesystem lacks it (raises on real failure)."""
    try:
        # The process's own symbols include the C library's; no ctypes.util.find_library (it runs ldconfig).
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # not Linux, or a C library older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    function.restype = ctypes.c_int
    if function(_AT_FDCWD, os.fsencode(source), _AT_FDCWD, os.fsencode(destination), flags) == 0:
        return True
    code = ctypes.get_errno()
    if code in _UNSUPPORTED:
        return None
    raise OSError(code, os.strerror(code), str(destination))


def _fsync(path: Path) -> None:
    """Flush a file or directory to disk, so a crash of the machine cannot leave a renamed-in empty file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """Ignore Ctrl-C while the sets are swapped: once the swap starts, the new set is the result."""
    # (getsignal is None for a handler installed outside Python, which could not be put back.)
    if threading.current_thread() is not threading.main_thread() or signal.getsignal(signal.SIGINT) is None:
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
