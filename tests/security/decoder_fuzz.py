"""S23: the decoders fuzzed with atheris, through imgorigin's own probe, plan and pipeline.

    make fuzz-decoders                    # 100 000 executions (FUZZ_RUNS)
    python -m tests.security.decoder_fuzz [libFuzzer flags] [CORPUS_DIR ...]

Without a corpus directory, a temporary one is seeded with the bundled samples and the files of
`../shared/corpus` up to MAX_SEED_BYTES (read, never written).

Every input goes through `transforms.transform` with a few small outputs. An imgorigin error (a
typed 4xx/5xx) is a handled outcome; any other exception, a native crash, a hang past libFuzzer's
`-timeout` or memory past `-rss_limit_mb` is a finding, written by libFuzzer under
`tests/security/fuzz-crashes/` (the make target's `-artifact_prefix`), where
`test_s23_decoder_fuzz.py` replays it in every `make test` from then on. libvips is not built
with coverage instrumentation, so the search is guided by imgorigin's own Python only: this finds
crashes and unhandled errors in the decoders, it does not explore them the way a C fuzzer would.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

from origin.errors import ImgOriginError

REPO = Path(__file__).resolve().parents[2]
SEED_DIRS = (REPO / "samples", REPO.parent / "shared" / "corpus")
MAX_SEED_BYTES = 256 * 1024
ARTIFACTS = REPO / "tests" / "security" / "fuzz-crashes"
DEFAULT_FLAGS = (f"-artifact_prefix={ARTIFACTS}/", f"-max_len={MAX_SEED_BYTES}", "-timeout=20",
                 "-rss_limit_mb=2048", "-print_final_stats=1")

OPTION_SETS = ("w_48,fmt_png", "w_40,h_40,fmt_webp", "w_32,fmt_jpeg,rot_90", "fmt_gif,w_24")
DEADLINE_SECONDS = 5.0


def check_one(data: bytes) -> None:
    """Decode and transform `data` as a request would; only imgorigin's typed errors may leave."""
    from transforms import Limits, parse, transform

    limits = Limits()
    for option_set in OPTION_SETS[: 1 + (data[0] % len(OPTION_SETS)) if data else 1]:
        options = parse(option_set).options
        try:
            transform(data, options, options.format or "original", limits,
                      deadline=time.monotonic() + DEADLINE_SECONDS)
        except ImgOriginError:
            return  # a 4xx/5xx answer: handled


def seed(directory: Path) -> int:
    """Copy the seed images (small enough to mutate quickly) into `directory`; how many."""
    count = 0
    for root in SEED_DIRS:
        for path in sorted(root.rglob("*")) if root.is_dir() else ():
            if path.is_file() and 0 < path.stat().st_size <= MAX_SEED_BYTES and \
                    path.suffix.lower() not in (".py", ".md", ".tsv", ".html", ".txt"):
                shutil.copyfile(path, directory / f"seed-{count:04d}{path.suffix}")
                count += 1
    return count


def main(argv: list[str]) -> int:
    import atheris

    with atheris.instrument_imports():
        import transforms  # noqa: F401 - instrumented: its branches guide the search
    from transforms import vipsconfig

    # As in a worker: untrusted loaders blocked, no operation cache, one libvips thread.
    vipsconfig.configure(concurrency=1, cache_max_mem=0)
    flags = [a for a in argv[1:] if a.startswith("-")]
    corpora = [a for a in argv[1:] if not a.startswith("-")]
    given = {f.split("=", 1)[0] for f in flags}
    flags += [f for f in DEFAULT_FLAGS if f.split("=", 1)[0] not in given]
    ARTIFACTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imgorigin-fuzz-") as tmp:
        if not corpora:
            print(f"seeded {seed(Path(tmp))} inputs into {tmp}", file=sys.stderr)
            corpora = [tmp]
        atheris.Setup([argv[0], *flags, *corpora], check_one)
        atheris.Fuzz()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
