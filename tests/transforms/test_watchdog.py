"""The watchdog kills a libvips evaluation at its deadline, and only then."""

from __future__ import annotations

import time

import pytest
import pyvips

from transforms.watchdog import Watchdog


def _killed_in_time(watchdog: Watchdog) -> None:
    """A large Gaussian blur of noise (about 13 s on a machine of the kind if nothing stops it)
    given 0.3 s is stopped soon. Of a constant image (the blur of black, 0.34 s in all) libvips
    sometimes finished before the kill landed, so the test failed one run in eight."""
    image = pyvips.Image.gaussnoise(6000, 6000).gaussblur(60)
    started = time.monotonic()
    with pytest.raises(pyvips.Error), watchdog.guard(image, started + 0.3):
        image.jpegsave_buffer()
    assert time.monotonic() - started < 3


def test_evaluation_past_its_deadline_is_killed_and_disarmed() -> None:
    watchdog = Watchdog()
    _killed_in_time(watchdog)
    assert watchdog._armed == {}


def test_evaluation_within_its_deadline_is_left_alone() -> None:
    watchdog = Watchdog()
    for _ in range(3):
        image = pyvips.Image.black(400, 300).gaussblur(2)
        with watchdog.guard(image, time.monotonic() + 30):
            assert image.jpegsave_buffer()[:2] == b"\xff\xd8"
    # A later, earlier deadline still wakes the thread that sleeps until a far one.
    with watchdog.guard(pyvips.Image.black(10, 10), time.monotonic() + 60):
        _killed_in_time(watchdog)
    assert watchdog._armed == {}
