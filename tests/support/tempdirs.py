"""Folders for test servers that run as another user (PostgreSQL and PgBouncer refuse root)."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def server_folder(prefix: str) -> Iterator[Path]:
    """A new folder under the system temp directory, removed at the end.

    Not under pytest's tmp_path: that tree is private (0700), so a server running as another
    user only reaches it after its permissions are widened, and any other pytest run on the
    machine narrows them again at its start, cutting a running server off its own files."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
