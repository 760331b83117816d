"""`fmt_blurhash`: the variant as a BlurHash string (imgix's `fm=blurhash`), the few dozen
characters a page puts in its HTML to paint a blurred placeholder before the image arrives.

The variant is made by the usual steps up to the encoder (crop, fit, effects, padding,
watermark: the placeholder has the framing of the image it stands for), planned as a JPEG would
be (the first frame, transparency flattened on `bg` or white by `finish`), then shrunk to a few
pixels and encoded by the `blurhash` package. BlurHash keeps only the lowest frequencies (4x3
cosines), so 20 pixels along the longer side describe them as well as the full image would, and
keep the package's pure-Python encode to a few milliseconds.
"""

from __future__ import annotations

import blurhash
import pyvips

from transforms.pipeline import PIPELINE, Context, encode, guarded

CONTENT_TYPE = "text/plain; charset=utf-8"
# The output format a placeholder is planned as: a still image, transparency flattened on `bg`.
PLANNED_AS = "jpeg"
SAMPLE_SIDE = 20
# Components along the longer and the shorter side (blurhash.sh suggests 4 by 3).
LONG_COMPONENTS, SHORT_COMPONENTS = 4, 3
VERSION = "1"  # part of the variant key: a change of the above changes every string


def blurhash_step(ctx: Context) -> None:
    """Encode the finished image (its first frame) as a BlurHash into `ctx.output`."""
    image = ctx.image
    assert image is not None
    if ctx.frames > 1:
        image = image.crop(0, 0, image.width, ctx.page_height)
    # The pixels are read here, not by an encoder: the same deadline and error mapping.
    text = guarded(ctx, image, lambda: encode_image(image))
    ctx.output = text.encode("ascii")


def encode_image(image: pyvips.Image) -> str:
    """The BlurHash of an 8-bit sRGB or grey image without alpha (`finish` flattened it on `bg`,
    else white, the placeholder being planned as a JPEG would be)."""
    if image.bands == 1:
        image = image.bandjoin([image, image])
    small = image.thumbnail_image(SAMPLE_SIDE, height=SAMPLE_SIDE)
    pixels = small.write_to_memory()
    width, height = small.width, small.height
    rows = [[list(pixels[(y * width + x) * 3:(y * width + x) * 3 + 3]) for x in range(width)]
            for y in range(height)]
    across, down = ((LONG_COMPONENTS, SHORT_COMPONENTS) if width >= height
                    else (SHORT_COMPONENTS, LONG_COMPONENTS))
    return str(blurhash.encode(rows, components_x=across, components_y=down))


# The usual steps with the BlurHash in place of the encoder.
STEPS = (*(step for step in PIPELINE if step is not encode), blurhash_step)
