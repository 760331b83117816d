"""The bounded transform pool of a worker, with admission by cost.

Transforms never run on the event loop. A miss is refused at once with 503 + Retry-After when
the pool's threads and queue are full, when the estimated backlog would keep it waiting for a
thread longer than `max_wait`, or when its estimated cost, behind that backlog, cannot finish
before the request's deadline. Cache hits never come here.

The wait bound keeps admitted latency from growing with how slow the machine is: the queue's
length alone bounds it only as a multiple of how long a transform takes on this one. It is for
a standing queue (overload): a young queue, one that has had work waiting for less than
`BURST_WINDOW`, always takes its first `burst` transforms per thread, so the few images of a
page that arrive together on a quiet server are made rather than refused (a browser does not
retry an image). This is CoDel's distinction between a burst and a standing queue. The bound is
as good as the estimate, which leaves out most effects (blur, sharpen, smart crop; thumbor's
wavelet sharpen, a dozen times a plain transform, is in it). A byte budget (`mb`)
that binds costs up to 8 encodes: measured on a 2400x1600 JPEG to 800 px, 2.8x (JPEG), 4.8x
(WebP) and 5.1x (AVIF) the plain transform, 1x when the first encode fits; the encode term is
counted `BUDGET_FACTOR` times, the cautious side for a deadline; `q_auto`'s search (up to 5
encodes, each decoded and measured) is counted the same.

Cost model (seconds, per transform thread; measured on the 2-core CI machine, see
docs/resilience.md): `frames x (source_pixels x DECODE[source] + output_pixels x ENCODE[output])
+ BASE`. Decode per source pixel is small where libvips shrinks on load (JPEG, WebP) and larger
for PNG; encode per output pixel orders AVIF >> WebP > PNG ~ JPEG. The estimate is then scaled by
a running ratio of measured to estimated time, so a faster or slower machine calibrates itself.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from origin import metrics
from origin.errors import Overloaded
from origin.threadnames import name_os_thread
from transforms import Plan
from transforms.formats import takes_quality

T = TypeVar("T")

BASE_SECONDS = 0.008
# Seconds per source pixel to decode (with shrink-on-load where the format has it).
DECODE: dict[str, float] = {"jpeg": 4e-9, "webp": 10e-9, "png": 16e-9, "gif": 16e-9,
                            "tiff": 16e-9, "avif": 30e-9, "svg": 40e-9}
# Seconds per output pixel: resample, colour conversion and encode.
ENCODE: dict[str, float] = {"jpeg": 120e-9, "png": 125e-9, "webp": 145e-9, "gif": 250e-9,
                            "avif": 345e-9}
BUDGET_FACTOR = 5
# Decode per source pixel when the source is decoded whole (`kernel`, `gamma`: no shrink-on-load;
# gamma to 300 px from a 2400x1600 JPEG took 6.5 times the plain transform, to 1200 px 3 times).
FULL_DECODE = 40e-9
# Seconds per output pixel of thumbor's wavelet sharpen (`wsharpen`): about twelve times a JPEG's
# resample and encode (at 1200x800, 131 ms against 10.5 ms for the whole plain transform).
WAVELET_SHARPEN = 1.5e-6
# Seconds per output pixel and kernel weight of thumbor's convolution (`conv`): 0.84-0.95 ns
# measured on a 2400x1600 photo (3x3 and 9x9 kernels), doubled for one thread.
CONVOLUTION_TAP = 2e-9
# Seconds per output pixel of the unsharp mask (`usm`), a base and a part per px of its radius:
# 16 ns at sigma 2 and 117 ns at sigma 100 measured on a 2.7 MP output (its blur grows with
# the radius), doubled for one thread.
UNSHARP_BASE = 32e-9
UNSHARP_PER_RADIUS = 2e-9
# Seconds of one face detection (`g_face`, `g_faces`): OpenCV's cascade on a copy at most 600 px
# long, 20-60 ms measured on the CI machine (faces found or not); charged once whatever the size.
FACE_DETECTION = 0.06
_CALIBRATION_WEIGHT = 0.1  # how fast the measured/estimated ratio follows new measurements
_CALIBRATION_BOUNDS = (0.25, 4.0)
# Seconds a queue may keep work waiting before it counts as standing: a page's images arrive
# within a few hundred milliseconds, while overload keeps the queue busy for good.
BURST_WINDOW = 1.0


def estimate_seconds(plan: Plan) -> float:
    """Uncalibrated seconds one transform thread needs for `plan`."""
    info = plan.probe
    frames = info.pages if plan.animate else 1
    if plan.region is not None:
        src_w, src_h = plan.region.width, plan.region.height
    else:
        src_w, src_h = info.width, info.height
    if plan.geometry is not None:
        out_w, out_h = plan.geometry.output
        # Cropping happens after the resize: the resample touches the resized pixels.
        out_pixels = max(out_w * out_h, plan.geometry.resize[0] * plan.geometry.resize[1])
    else:
        out_pixels = src_w * src_h  # trim: the size is only known after decoding
    decode = DECODE.get(info.format, 30e-9)
    if plan.options.resamples:
        decode = max(decode, FULL_DECODE)
    encode = ENCODE.get(plan.output, 345e-9)
    searches = plan.options.max_bytes is not None or plan.options.auto_quality is not None
    if searches and takes_quality(plan.output, plan.options.lossless):
        encode *= BUDGET_FACTOR
    effects = WAVELET_SHARPEN if plan.options.wavelet_sharpen is not None else 0.0
    if plan.options.convolution is not None:
        effects += CONVOLUTION_TAP * len(plan.options.convolution.weights)
    if plan.options.unsharp is not None:
        effects += UNSHARP_BASE + UNSHARP_PER_RADIUS * plan.options.unsharp.radius
    detection = FACE_DETECTION if plan.options.detects_faces else 0.0
    return frames * (info.width * info.height * decode + out_pixels * (encode + effects)
                     ) + BASE_SECONDS + detection


@dataclass(slots=True)
class _Job:
    """An admitted transform: its calibrated estimate, deadline, and when a thread took it."""

    cost: float
    deadline: float | None
    started: float | None = None


class TransformExecutor:
    def __init__(self, threads: int, queue: int, *, max_wait: float = 0.0, burst: int = 0,
                 probe_threads: int = 1, after_each: Callable[[], None] | None = None,
                 on_pending: Callable[[int], None] | None = None) -> None:
        self.threads = threads
        self.max_wait = max_wait  # estimated seconds a miss may wait for a thread; 0: unbounded
        self.burst = burst  # queued per thread a young queue takes whatever their wait
        self._waiting_since: float | None = None  # when the queue last went from empty to not
        self._after_each = after_each  # runs in the pool thread after every transform
        self._on_pending = on_pending  # told `pending` on the event loop whenever it changes
        self.capacity = threads + queue
        self.pending = 0
        # Admitted and not yet finished (see `backlog`).
        self._admitted: dict[object, _Job] = {}
        self.calibration = 1.0  # measured / estimated, a running average
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="transform",
                                        initializer=name_os_thread, initargs=("transform",))
        # Header probes are short; their own thread keeps them from queueing behind transforms.
        self._probe_pool = ThreadPoolExecutor(max_workers=probe_threads,
                                              thread_name_prefix="probe",
                                              initializer=name_os_thread, initargs=("probe",))

    @property
    def backlog(self) -> float:
        """Estimated seconds of work admitted and not yet finished."""
        running, queued, _ = self._loads()
        return running + queued

    def _loads(self) -> tuple[float, float, int]:
        """Estimated seconds left of the running jobs, and of the queued ones. A job is stopped
        at its deadline, so it counts for at most the time left to it: one that timed out and is
        being torn down (a killed SVG child) no longer makes new misses look late. Also how many
        jobs wait for a thread."""
        now = time.monotonic()
        running = queued = 0.0
        waiting = 0
        for job in self._admitted.values():
            left = job.cost if job.deadline is None else min(job.cost,
                                                             max(0.0, job.deadline - now))
            if job.started is None:
                queued += left
                waiting += 1
            else:
                running += max(0.0, min(left, job.cost - (now - job.started)))
        return running, queued, waiting

    def check_capacity(self) -> None:
        """Shed before any fetch or probe work when the pool is already full."""
        self._refuse_when_full()

    def _refuse_when_full(self) -> float:
        """503 when no place is left, or when the work already queued would keep a new miss
        waiting past `max_wait`; else the estimated wait for a thread.

        What is left of the running jobs does not count toward the bound: every request that
        finds the threads busy waits for that, however well the server is sized, and counting
        it refused the small images of a page queued behind its one large image (a 2x screen's
        first visit to the demo page lost two of four). Queued work is what grows under
        overload; an admitted miss waits for at most `max_wait` of it plus one running job, or
        behind fewer than `burst` jobs per thread in a young queue."""
        running, queued, waiting = self._loads()
        wait = (running + queued) / self.threads
        if self.pending >= self.capacity:
            self._shed("queue_full", wait)
        if waiting == 0:
            self._waiting_since = None
        if (self.max_wait and self.pending >= self.threads
                and queued / self.threads > self.max_wait and not self._young(waiting)):
            self._shed("queue_wait", wait)
        return wait

    def _young(self, waiting: int) -> bool:
        """Whether a miss joins a burst (few waiting, and not for long) rather than a standing
        queue, so the wait bound does not apply to it."""
        if waiting >= self.burst * self.threads:
            return False
        return (self._waiting_since is None
                or time.monotonic() - self._waiting_since < BURST_WINDOW)

    def _shed(self, reason: str, wait: float) -> None:
        metrics.SHED.labels(reason).inc()
        retry_after = min(30, max(1, math.ceil(wait)))
        raise Overloaded("server is busy; retry shortly", retry_after=retry_after)

    async def probe(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """Run a header probe off the event loop, outside the transform queue."""
        self.check_capacity()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._probe_pool, lambda: fn(*args, **kwargs))

    async def run(self, fn: Callable[..., T], *args: object, estimate: float = 0.0,
                  deadline: float | None = None, **kwargs: object) -> T:
        """Run `fn` in the pool if it is admitted: 503 when the queue is full or its wait too
        long, or when its cost (`estimate_seconds`, calibrated) behind the backlog cannot end
        before `deadline`."""
        cost = estimate * self.calibration
        wait = self._refuse_when_full()
        if deadline is not None and time.monotonic() + wait + cost > deadline:
            self._shed("deadline", wait + cost)
        if self.pending >= self.threads and self._waiting_since is None:
            self._waiting_since = time.monotonic()  # this one waits: the queue is no longer empty
        self.pending += 1
        ticket = object()
        job = _Job(cost, deadline)
        self._admitted[ticket] = job
        metrics.INFLIGHT.inc()
        if self._on_pending is not None:
            self._on_pending(self.pending)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._pool, lambda: self._timed(fn, args, kwargs, estimate, deadline, job))
        finally:
            self.pending -= 1
            del self._admitted[ticket]
            metrics.INFLIGHT.dec()
            if self._on_pending is not None:
                self._on_pending(self.pending)

    def _timed(self, fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object],
               estimate: float, deadline: float | None, job: _Job) -> T:
        """In the pool thread: refuse work whose deadline passed in the queue, and learn how
        long work really takes."""
        if deadline is not None and time.monotonic() > deadline:
            metrics.SHED.labels("expired").inc()
            raise Overloaded("server is busy; retry shortly", retry_after=1)
        job.started = time.monotonic()  # running from now: `_loads` counts what is left of it
        started = time.perf_counter()
        try:
            result = fn(*args, **kwargs)  # failures (and deadline kills) teach nothing about cost
            elapsed = time.perf_counter() - started  # the hook (a trim) is not this work's cost
        finally:
            if self._after_each is not None:
                self._after_each()
        if estimate > 0:
            ratio = elapsed / estimate
            low, high = _CALIBRATION_BOUNDS
            with self._lock:
                updated = (1 - _CALIBRATION_WEIGHT) * self.calibration + _CALIBRATION_WEIGHT * ratio
                self.calibration = min(high, max(low, updated))
        return result

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._probe_pool.shutdown(wait=False, cancel_futures=True)
