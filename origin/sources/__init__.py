"""Where source images come from: a local directory or an HTTP(S) base, and allowlisted URLs."""

from origin.sources.ref import SourceRef, parse_source
from origin.sources.store import SourceStore

__all__ = ["SourceRef", "SourceStore", "parse_source"]
