"""URL grammar, options, plans and the libvips pipeline. No I/O happens in this package."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from transforms import placeholder
from transforms.formats import CONTENT_TYPES, negotiate, resolve_output
from transforms.grammar import ParsedOptions, parse, serialize
from transforms.options import DEFAULT_OPTIONS, Options
from transforms.pipeline import PIPELINE, Context, Step, run
from transforms.plan import Limits, Plan, make_plan
from transforms.probe import Probe, probe

if TYPE_CHECKING:
    from transforms.watermarks import WatermarkImage

PIPELINE_VERSION = "1"

__all__ = [
    "CONTENT_TYPES",
    "PIPELINE_VERSION",
    "Limits",
    "Options",
    "ParsedOptions",
    "Plan",
    "Probe",
    "TransformResult",
    "as_stored",
    "negotiate",
    "parse",
    "prepare",
    "probe",
    "render",
    "render_blurhash",
    "serialize",
    "transform",
]


@dataclass(frozen=True, slots=True)
class TransformResult:
    body: bytes
    format: str
    content_type: str
    width: int
    height: int
    frames: int
    budget: tuple[str, int] | None = None  # an `mb_` search's result and encodes
    auto_quality: tuple[int, int] | None = None  # `q_auto`'s quality and encodes


def prepare(info: Probe, options: Options, requested_format: str, limits: Limits,
            marks: Mapping[str, WatermarkImage] | None = None) -> Plan:
    """The checked plan for a probed source: pure Python, cheap enough for the event loop.
    `marks` are the server's watermarks, by name."""
    # A flattened image has no alpha, so `fmt_auto` without a modern format is a JPEG.
    output = resolve_output(requested_format, info.format, info.has_alpha and not options.flatten)
    return make_plan(info, options, output, limits, marks)


def render(data: bytes, plan: Plan, limits: Limits, *, deadline: float) -> TransformResult:
    """Run the pipeline for a plan; blocking (the decode and encode), so call it from a thread."""
    return _render(data, plan, limits, deadline, PIPELINE, plan.output, CONTENT_TYPES[plan.output])


def render_blurhash(data: bytes, plan: Plan, limits: Limits, *,
                    deadline: float) -> TransformResult:
    """`fmt_blurhash`: the pipeline with a BlurHash string in place of the encoder; blocking."""
    return _render(data, plan, limits, deadline, placeholder.STEPS, "blurhash",
                   placeholder.CONTENT_TYPE)


def _render(data: bytes, plan: Plan, limits: Limits, deadline: float, steps: tuple[Step, ...],
            fmt: str, content_type: str) -> TransformResult:
    if time.monotonic() > deadline:
        from origin.errors import UpstreamTimeout

        raise UpstreamTimeout("request deadline passed before the transform started")
    ctx = Context(data=data, plan=plan, deadline=deadline, max_dim=limits.max_dim)
    body = run(ctx, steps)
    assert ctx.image is not None
    return TransformResult(
        body=body,
        format=fmt,
        content_type=content_type,
        width=ctx.image.width,
        height=ctx.page_height,
        frames=ctx.frames,
        budget=ctx.budget,
        auto_quality=ctx.auto_quality,
    )


def transform(data: bytes, options: Options, requested_format: str, limits: Limits, *,
              deadline: float, svg_allowed: bool = True) -> TransformResult:
    """Probe, plan and run the pipeline for one source; blocking, so call it from a thread."""
    if time.monotonic() > deadline:
        from origin.errors import UpstreamTimeout

        raise UpstreamTimeout("request deadline passed before the transform started")
    info = probe(data, svg_allowed=svg_allowed)
    if options.served_as_stored(info.format):
        return as_stored(data, info, limits)
    return render(data, prepare(info, options, requested_format, limits), limits,
                  deadline=deadline)


def as_stored(data: bytes, info: Probe, limits: Limits) -> TransformResult:
    """`raw` or `skip_`: the source's own bytes, for a web format within the pixel and frame
    limits (a source this server would not decode is not handed to browsers either); 415 for
    any other format."""
    if info.format not in CONTENT_TYPES:
        from origin.errors import UnsupportedFormat

        raise UnsupportedFormat(f"raw serves web images as stored ({', '.join(CONTENT_TYPES)}); "
                                f"this source is {info.format}")
    plan = prepare(info, DEFAULT_OPTIONS, "original", limits)
    return TransformResult(data, info.format, CONTENT_TYPES[info.format], info.width,
                           info.height, info.pages if plan.animate else 1)
