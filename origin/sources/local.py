"""Sources in a local directory; nothing outside the root is ever read."""

from __future__ import annotations

import asyncio
import os
import stat

from origin.errors import SourceNotFound, SourceTooLarge


class LocalSource:
    def __init__(self, root: str, max_bytes: int) -> None:
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self.max_bytes = max_bytes

    def _path(self, key: str) -> str:
        # Keys are checked relative paths (no '..', no leading '/'): plain concatenation.
        return self._prefix + key

    def version(self, key: str) -> str:
        """mtime and size: a replaced file gets new variants without a purge."""
        try:
            st = os.stat(self._path(key))
        except OSError:
            raise SourceNotFound("source not found") from None
        if not stat.S_ISREG(st.st_mode):
            raise SourceNotFound("source not found")
        return f"{st.st_mtime_ns:x}-{st.st_size:x}"

    async def read(self, key: str) -> tuple[bytes, str]:
        """The file's bytes and version; symlinks that leave the root are 'not found'."""
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> tuple[bytes, str]:
        path = os.path.realpath(self._path(key))
        if not path.startswith(self.root + os.sep):
            raise SourceNotFound("source not found")
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size > self.max_bytes:
                    raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
                data = f.read(self.max_bytes + 1)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError):
            raise SourceNotFound("source not found") from None
        if len(data) > self.max_bytes:
            raise SourceTooLarge(f"source is larger than {self.max_bytes} bytes")
        return data, f"{st.st_mtime_ns:x}-{st.st_size:x}"
