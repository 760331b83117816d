"""S23 regressions: the bundled samples, damaged copies of them and every input the decoder fuzzer
(`make fuzz-decoders`) ever saved go through the fuzz harness in a fresh interpreter (so a native
crash fails the test instead of killing pytest) and end in a handled outcome."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.origin import REPO

CRASHES = REPO / "tests" / "security" / "fuzz-crashes"
SAMPLES = sorted(p for p in (REPO / "samples").rglob("*") if p.suffix in (
    ".jpg", ".png", ".gif", ".webp", ".avif", ".svg"))
SAVED = sorted(p for p in CRASHES.glob("*") if p.is_file() and p.name != "README.md")

_REPLAY = """
import sys
from pathlib import Path
from transforms import vipsconfig
from tests.security.decoder_fuzz import check_one
vipsconfig.configure(concurrency=1, cache_max_mem=0)
for name in sys.argv[1:]:
    check_one(Path(name).read_bytes())
print("handled", len(sys.argv) - 1)
"""


def _replay(paths: list[Path]) -> str:
    done = subprocess.run([sys.executable, "-c", _REPLAY, *map(str, paths)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_s23_samples_damaged_samples_and_saved_findings_are_handled(tmp_path: Path) -> None:
    assert SAMPLES, "no bundled samples to seed the harness with"
    damaged = []
    for sample in SAMPLES:
        data = sample.read_bytes()
        for name, mutated in (("cut", data[: len(data) // 2]),
                              ("flip", data[:64] + bytes(b ^ 0x5A for b in data[64:256])
                               + data[256:])):
            path = tmp_path / f"{name}-{sample.name}"
            path.write_bytes(mutated)
            damaged.append(path)
    inputs = [*SAMPLES, *damaged, *SAVED]
    assert _replay(inputs) == f"handled {len(inputs)}"
