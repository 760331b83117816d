"""Profile one worker of a loaded server with py-spy: `python -m benchmarks.profile SCENARIO`.

SCENARIO is a name from benchmarks.scenarios (e.g. hit-memory, miss-b). The server runs with the
scenario's settings under wrk for BENCH_DURATION seconds (default 15) while py-spy samples one
worker (GIL-holding and idle samples excluded as far as py-spy can tell: it counts a pool thread
waiting on its queue, and uvloop's C loop waiting in epoll, as active), each stack under its
thread's name. Writes the
collapsed stacks and a top-functions summary (self and inclusive share of samples) to
benchmarks/results/. Needs `pip install py-spy`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from benchmarks.images import make_images
from benchmarks.loadgen import run_wrk
from benchmarks.report import RESULTS_DIR
from benchmarks.run import WARM_START, Config, fetch_all
from benchmarks.scenarios import HIT_TRANSFORM, SCENARIOS, miss_paths
from benchmarks.servers import OriginProcess


def summarise(collapsed: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function from py-spy's collapsed stacks."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    lines = [f"{total} samples", "", "self %  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["", "incl %  function"]
    lines += [f"{100 * n / total:5.1f}  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    sc = next((s for s in SCENARIOS if s.name == argv[0]), None)
    if sc is None or sc.kind not in ("hit", "miss") or sc.needs_redis:
        print(f"profile supports the embedded hit and miss scenarios, not {argv[0]!r}",
              file=sys.stderr)
        return 2
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(pyspy).exists():
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 2
    cfg = Config(dict(os.environ, BENCH_DURATION=os.environ.get("BENCH_DURATION", "15")))
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"profile-{sc.name}.collapsed"
    with tempfile.TemporaryDirectory(prefix="imgorigin-profile-") as tmp:
        images = Path(tmp) / "images"
        make_images(images)
        env = {"IMGORIGIN_SOURCE": str(images), **sc.env}
        with OriginProcess(env=env, workers=cfg.workers) as server:
            if sc.kind == "hit":
                fetch_all(server.base, [HIT_TRANSFORM.base_path], 1)
                paths = [HIT_TRANSFORM.base_path]
            else:
                paths = miss_paths(sc.transforms, 20000)
                run_wrk(server.base, miss_paths(sc.transforms, 500, WARM_START),
                        concurrency=8, duration=2)
            pid = server.worker_pids()[0]
            spy = subprocess.Popen(
                [pyspy, "record", "--pid", str(pid), "--rate", "200", "--format", "raw",
                 "--threads", "--duration", str(int(cfg.duration)), "--output", str(out),
                 "--nonblocking"],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(0.5)
            load = threading.Thread(target=run_wrk, args=(server.base, paths),
                                    kwargs={"concurrency": sc.concurrency,
                                            "duration": cfg.duration})
            load.start()
            load.join()
            spy.wait(timeout=60)
    summary = summarise(out)
    (RESULTS_DIR / f"profile-{sc.name}.txt").write_text(summary + "\n")
    print(summary)
    print(f"\nwrote {out} (flamegraph: py-spy's --format flamegraph, or any collapsed-stack "
          "viewer)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
