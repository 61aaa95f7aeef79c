"""A training run's output directory: checked before training, locked while it runs.

A run finds out at its start, not after hours of training, that it cannot write
its results: `RunDirectory` creates the directory, refuses a path that is a file or
a directory it cannot write, and takes a lock file `.lock` in it holding the run's
process id. The lock is created with `O_CREAT | O_EXCL`, so of two runs started
into the same directory exactly one gets it; the other is refused with the
holder's pid. A lock whose process no longer runs (a run killed with SIGKILL, a
machine that restarted) is stale: it is taken over with a warning. The lock is
removed when the run ends, also on an error.

The process check is `os.kill(pid, 0)`, which sees only this machine: two machines
sharing a network directory do not see each other's runs.
"""

import errno
import os
import time
import warnings

__all__ = ["LOCK_FILE", "OutputDirectoryError", "RunDirectory"]

LOCK_FILE = ".lock"
# A lock file without a pid younger than this is being written, not stale.
FRESH_LOCK_SECONDS = 5.0


class OutputDirectoryError(ValueError):
    """The output directory cannot take the run (a file, not writable, or locked)."""


class RunDirectory:
    """The output directory of a run, locked for it (a context manager).

    Args:
        path: the directory; created with its parents if missing.

    Example:

    >>> import tempfile
    >>> folder = tempfile.mkdtemp()
    >>> with RunDirectory(folder):
    ...     RunDirectory(folder).acquire()
    Traceback (most recent call last):
    ...
    keras_siglip.training.run_directory.OutputDirectoryError: ...
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.lock_path = os.path.join(self.path, LOCK_FILE)
        self.held = False

    def acquire(self):
        """Check the directory and take its lock; raises `OutputDirectoryError`."""
        if os.path.lexists(self.path) and not os.path.isdir(self.path):
            raise OutputDirectoryError(
                f"{self.path!r} exists and is not a directory; the run writes a preset "
                "directory there."
            )
        try:
            os.makedirs(self.path, exist_ok=True)
        except OSError as error:
            raise OutputDirectoryError(
                f"{self.path!r} cannot be created: {error.strerror or error}."
            ) from None
        if not os.access(self.path, os.W_OK | os.X_OK):
            raise OutputDirectoryError(f"{self.path!r} is not writable by this user.")
        for _ in range(3):
            if self._create_lock():
                self.held = True
                return self
            holder = self._holder()
            if holder is None and self._lock_age() < FRESH_LOCK_SECONDS:
                # Created by O_EXCL a moment ago, its pid not written yet.
                raise OutputDirectoryError(
                    f"{self.path!r} is being locked by another run (lock file "
                    f"{self.lock_path!r}); choose another directory."
                )
            if holder is not None and _is_running(holder):
                raise OutputDirectoryError(
                    f"{self.path!r} is in use by another run (process {holder}, lock file "
                    f"{self.lock_path!r}); wait for it to finish or choose another directory."
                )
            warnings.warn(
                f"Taking over the stale lock {self.lock_path!r} of process "
                f"{holder if holder is not None else '(unreadable)'}, which no longer runs.",
                stacklevel=2,
            )
            try:
                os.remove(self.lock_path)
            except FileNotFoundError:
                pass  # another run took it over first: try again
        raise OutputDirectoryError(
            f"Could not take the lock {self.lock_path!r}: it keeps changing."
        )

    def release(self):
        """Remove the lock, if this run holds it (idempotent)."""
        if self.held and self._holder() == os.getpid():
            try:
                os.remove(self.lock_path)
            except FileNotFoundError:
                pass
        self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc_info):
        self.release()

    def _create_lock(self):
        try:
            handle = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        except OSError as error:
            raise OutputDirectoryError(
                f"{self.path!r} is not writable: creating {LOCK_FILE} failed "
                f"({error.strerror or error})."
            ) from None
        try:
            os.write(handle, f"{os.getpid()}\n".encode())
            os.fsync(handle)
        finally:
            os.close(handle)
        return True

    def _lock_age(self):
        try:
            return time.time() - os.stat(self.lock_path).st_mtime
        except OSError:
            return float("inf")

    def _holder(self):
        """The pid in the lock file, or `None` (missing, empty or not a number)."""
        try:
            with open(self.lock_path, encoding="utf-8") as file:
                return int(file.read().strip())
        except (OSError, ValueError, UnicodeDecodeError):
            return None


def _is_running(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError as error:
        # EPERM: it runs, under another user.
        return error.errno == errno.EPERM
    return True
