"""The size ladder: bound how many width/height variants unsigned URLs can create.

With a ladder of N steps a source has at most N widths x N heights, instead of MAX_DIM squared.
Each dimension is judged alone, so with both `w` and `h` the box (and its aspect ratio) may
change when snapped; operators who need exact boxes use presets.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, replace

from origin.errors import InvalidOptions
from transforms.options import Options


@dataclass(frozen=True, slots=True)
class SizeLadder:
    """`steps` sorted ascending; `mode` is `snap` (round up, top step at most) or `refuse`."""

    steps: tuple[int, ...] = ()
    mode: str = "snap"

    def apply(self, options: Options) -> Options:
        """Options with `width`/`height` on the ladder; 400 off it in `refuse` mode."""
        if not self.steps:
            return options
        width = self._step("w", options.width)
        height = self._step("h", options.height)
        if (width, height) == (options.width, options.height):
            return options
        return replace(options, width=width, height=height)

    def _step(self, name: str, value: int | None) -> int | None:
        if value is None:
            return None
        at = bisect.bisect_left(self.steps, value)
        if at < len(self.steps) and self.steps[at] == value:
            return value
        if self.mode == "refuse":
            allowed = ",".join(str(s) for s in self.steps)
            raise InvalidOptions(f"'{name}_{value}' is not on the size ladder ({allowed})")
        # Up, so the client never gets fewer pixels than it asked for; the top step caps it.
        return self.steps[min(at, len(self.steps) - 1)]
