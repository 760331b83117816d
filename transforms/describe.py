"""`fmt_json`: what a source is and what size a variant of it would be, from its header alone.

Pages lay out images before they load (`<img width height>`, aspect-ratio boxes) from this
document, so it must cost a header read, never a decode, and it must agree with the image URL:
the same plan is made, so the same limits fail with the same errors. Damage past the header (a
truncated JPEG) shows only when pixels are decoded: such a source is described, and its images
are 422s.
"""

from __future__ import annotations

import json
from typing import Any

from transforms.plan import Plan

CONTENT_TYPE = "application/json"
# Part of the variant key: a change to the document's fields gives every document a new key.
DESCRIPTION_VERSION = "1"


def describe(plan: Plan, source_bytes: int) -> dict[str, Any]:
    """The document for a checked plan; the output size is null when `trim` decides it."""
    probe = plan.probe
    width: int | None = None
    height: int | None = None
    if plan.geometry is not None:
        width, height = plan.geometry.output
    return {
        "source": {
            "format": probe.format,
            "width": probe.width,
            "height": probe.height,
            "pages": probe.pages,
            "animated": probe.animated,
            "alpha": bool(probe.has_alpha),
            "orientation": probe.orientation,
            "bytes": source_bytes,
        },
        "output": {"width": width, "height": height},
    }


def encode(document: dict[str, Any]) -> bytes:
    """The document's bytes: compact, keys in the order written, the same for the same input."""
    return json.dumps(document, separators=(",", ":")).encode()
