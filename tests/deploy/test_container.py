"""The Dockerfile: the image builds, runs as the non-root user it declares, serves the bundled
samples and caches where it says, answers its HEALTHCHECK, and stops on SIGTERM as `docker stop`
asks it to.

These machines reach no container registry and run no container daemon, so the image is built
with buildah (chroot isolation, the Dockerfile unchanged) on a Debian 12 base made here with
debootstrap (`BASE` build argument; the file's default is debian:bookworm-slim, the same release).
The base trusts this machine's CA bundle, which its egress proxy needs; the Dockerfile does not.
The server runs from the built image's own entrypoint, environment and user under `buildah run`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import pyvips

from origin.cpus import usable_cpus
from tests.support.net import free_port, wait_until
from tests.support.origin import REPO
from tests.support.redis_server import require

DOCKERFILE = REPO / "Dockerfile"
BASE_IMAGE = "localhost/imgorigin-test-base:bookworm"
IMAGE = "localhost/imgorigin:test"
ROOTFS_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "imgorigin-tests"


@dataclass(frozen=True)
class Buildah:
    """buildah on a throwaway storage directory, so nothing touches the machine's images."""

    storage: Path
    driver: str

    def argv(self, *args: str) -> list[str]:
        return [require("buildah"), "--root", str(self.storage / "root"),
                "--runroot", str(self.storage / "run"), "--storage-driver", self.driver, *args]

    def __call__(self, *args: str, timeout: float = 120, check: bool = True
                 ) -> subprocess.CompletedProcess[str]:
        run = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout)
        if check:
            assert run.returncode == 0, f"{' '.join(args)}:\n{run.stdout}\n{run.stderr}"
        return run


def bookworm_rootfs() -> Path:
    """A minimal Debian 12 root filesystem as a tarball, made once per machine (36 s)."""
    tarball = ROOTFS_CACHE / "bookworm-minbase.tar"
    if tarball.exists():
        return tarball
    ROOTFS_CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imgorigin-rootfs-") as work:
        rootfs = Path(work) / "rootfs"
        run = subprocess.run([require("debootstrap"), "--variant=minbase", "bookworm",
                              str(rootfs), "http://deb.debian.org/debian"],
                             capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True,
                       timeout=300)
        partial.rename(tarball)
    return tarball


def make_base(buildah: Buildah, tarball: Path, work: Path) -> None:
    container = buildah("from", "scratch").stdout.strip()
    buildah("add", container, str(tarball), "/")
    # This machine's egress proxy re-signs TLS: the base trusts the host's bundle (apt's
    # update-ca-certificates keeps /usr/local/share's certificates when it rebuilds it).
    local_cas = Path("/usr/local/share/ca-certificates")
    if local_cas.is_dir() and any(local_cas.iterdir()):
        buildah("add", container, str(local_cas), str(local_cas))
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.exists():
        buildah("add", container, str(bundle), str(bundle))
    pip_conf = work / "pip.conf"
    pip_conf.write_text(f"[global]\ncert = {bundle}\n")
    buildah("add", container, str(pip_conf), "/etc/pip.conf")
    buildah("commit", "--quiet", container, BASE_IMAGE)
    buildah("rm", container)


@pytest.fixture(scope="module")
def buildah() -> Iterator[Buildah]:
    require("buildah")
    storage = Path(tempfile.mkdtemp(prefix="imgorigin-buildah-"))
    tarball = bookworm_rootfs()
    chosen = None
    for driver in ("overlay", "vfs"):  # vfs copies every layer but runs anywhere
        candidate = Buildah(storage / driver, driver)
        if candidate("from", "scratch", check=False).returncode == 0:
            chosen = candidate
            break
    assert chosen is not None, "buildah could not start a container with overlay or vfs"
    try:
        make_base(chosen, tarball, storage)
        build = chosen("bud", "--isolation", "chroot", "--pull=never", "--format", "docker",
                       "--build-arg", f"BASE={BASE_IMAGE}", "--tag", IMAGE,
                       "--file", str(DOCKERFILE), str(REPO), timeout=900)
        assert "Successfully tagged" in build.stdout + build.stderr, build.stdout[-3000:]
        yield chosen
    finally:
        chosen("rm", "--all", check=False)
        chosen("rmi", "--all", "--force", check=False, timeout=300)
        shutil.rmtree(storage, ignore_errors=True)


@pytest.fixture(scope="module")
def config(buildah: Buildah) -> dict:  # type: ignore[type-arg]
    """The built image's Docker configuration (Entrypoint, User, Env, Healthcheck...)."""
    inspected = json.loads(buildah("inspect", "--type", "image", IMAGE).stdout)
    return inspected["Docker"]["config"]  # type: ignore[no-any-return]


def test_the_image_declares_a_numeric_non_root_user_and_its_port(config: dict) -> None:  # type: ignore[type-arg]
    user, _, group = config["User"].partition(":")
    assert user.isdigit() and int(user) != 0 and group.isdigit() and int(group) != 0
    assert "8080/tcp" in config["ExposedPorts"]
    assert config["Entrypoint"][:2] == ["imgorigin", "serve"]
    assert "PORT=8080" in config["Env"]


def test_the_dockerfile_copies_every_package_the_project_installs() -> None:
    # The image installs the project in place from the COPY lines: a package added to
    # pyproject.toml but not copied would fail at the first import, in production only.
    include = tomllib.loads((REPO / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["packages"]["find"]["include"]
    copied = set(re.findall(r"^COPY (\S+) /app/\1$", DOCKERFILE.read_text(), re.MULTILINE))
    assert {name.rstrip("*") for name in include} <= copied


def _server_master(runner: psutil.Process) -> psutil.Process | None:
    """The gunicorn master: the first `imgorigin serve` process under `buildah run`."""
    for child in runner.children(recursive=True):
        try:
            cmdline = child.cmdline()
        except psutil.Error:
            continue
        if any(part.endswith("python3") for part in cmdline[:1]) and "serve" in cmdline:
            return child
    return None


# Where a container of the image may write: with these two mounted writable (an emptyDir each
# in Kubernetes), the rest of the root filesystem can be read-only.
WRITABLE = ("/tmp", "/var/cache/imgorigin")
_NOT_FILES = ("proc", "sys", "dev", "run")


def _files(root: Path, skip: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    """Every regular file and directory under `root` but `skip` (relative paths), with its
    modification time and size: what a run changed is what two of these disagree on."""
    found: dict[str, tuple[int, int]] = {}
    for directory, dirs, files in os.walk(root):
        relative = os.path.relpath(directory, root)
        dirs[:] = [d for d in dirs
                   if os.path.normpath(os.path.join(relative, d)) not in skip]
        for name in (*dirs, *files):
            path = os.path.join(directory, name)
            with contextlib.suppress(OSError):
                st = os.lstat(path)
                found[os.path.normpath(os.path.join(relative, name))] = (st.st_mtime_ns,
                                                                        st.st_size)
    return found


def test_the_image_serves_caches_answers_its_healthcheck_and_stops_on_sigterm(
        buildah: Buildah, config: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    container = buildah("from", "--pull=never", IMAGE).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    drain = 2.0
    log_path = tmp_path / "container.log"
    mount = Path(buildah("mount", container).stdout.strip())
    skip = (*_NOT_FILES, *(w.lstrip("/") for w in WRITABLE))
    before = _files(mount, skip)
    # What `docker run -e PORT=… -e IMGORIGIN_DRAIN_SECONDS=2 imgorigin --host 127.0.0.1` runs:
    # the image's entrypoint, environment and user; the trailing --host keeps the test on
    # loopback, as an argument after the image name would.
    # The operator's settings file, mounted where the image looks for one.
    settings_dir = tmp_path / "etc-imgorigin"
    settings_dir.mkdir()
    (settings_dir / "imgorigin.env").write_text("IMGORIGIN_PURGE_TOKENS=from-the-file\n"
                                                "IMGORIGIN_TEXT_OVERLAYS=on\n")
    settings_dir.chmod(0o755)
    (settings_dir / "imgorigin.env").chmod(0o644)
    argv = buildah.argv("run", "--isolation", "chroot", "--env", f"PORT={port}",
                        "--env", f"IMGORIGIN_DRAIN_SECONDS={drain}",
                        "--volume", f"{settings_dir}:/etc/imgorigin:ro", container, "--",
                        *config["Entrypoint"], "--host", "127.0.0.1")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        def ready() -> bool:
            assert proc.poll() is None, log_path.read_text()
            try:
                return httpx.get(base + "/-/readyz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        assert wait_until(ready, 60, interval=0.2), log_path.read_text()
        master = _server_master(psutil.Process(proc.pid))
        assert master is not None
        uid, gid = (int(part) for part in config["User"].split(":"))
        assert master.uids().real == uid and master.gids().real == gid
        # One worker per CPU the container may use (the same cgroup and mask as this test).
        assert len(master.children()) == usable_cpus()

        demo = httpx.get(base + "/", timeout=10)
        assert demo.status_code == 200 and demo.headers["content-type"].startswith("text/html")
        r = httpx.get(base + "/w_160,fmt_webp/landscape.jpg", timeout=30)
        assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
        assert pyvips.Image.new_from_buffer(r.content, "").width == 160
        assert r.headers["server-timing"].startswith("transform;")
        again = httpx.get(base + "/w_160,fmt_webp/landscape.jpg", timeout=10)
        assert again.content == r.content and again.headers["etag"] == r.headers["etag"]
        assert not again.headers["server-timing"].startswith("transform;")  # from a cache tier
        # The default EXTRAS bring OpenCV: a face crop runs its detector inside the image.
        faces = httpx.get(base + "/w_120,h_120,g_faces,fmt_png/landscape.jpg", timeout=30)
        assert faces.status_code == 200, faces.text
        assert pyvips.Image.new_from_buffer(faces.content, "").width == 120
        # Text (on for unsigned URLs by the settings file) is drawn with the image's own font
        # (fonts-dejavu-core): red pixels in the band.
        text = httpx.get(base + "/w_200,text_SGVsbG8:center:40:ff0000,fmt_png/landscape.jpg",
                         timeout=30)
        assert text.status_code == 200, text.text
        drawn = pyvips.Image.new_from_buffer(text.content, "")
        assert ((drawn[0] - drawn[1]) > 150).max() > 0

        # The disk tier is where the image's IMGORIGIN_CACHE_DIR says, owned by its user.
        env = dict(e.split("=", 1) for e in config["Env"])
        cache_dir = env["IMGORIGIN_CACHE_DIR"]
        # The mounted settings file was read: its purge token works.
        assert env["IMGORIGIN_ENV_FILE"] == "-/etc/imgorigin/imgorigin.env"
        purged = httpx.post(base + "/-/purge", json={"sources": ["landscape.jpg"]},
                            headers={"Authorization": "Bearer from-the-file"}, timeout=10)
        assert purged.status_code == 200, purged.text
        assert cache_dir in WRITABLE
        written = [p for p in (mount / cache_dir.lstrip("/")).rglob("*") if p.is_file()]
        assert written and all(p.stat().st_uid == uid for p in written)

        health = config["Healthcheck"]["Test"]
        assert health[0] == "CMD"
        check = buildah.argv("run", "--isolation", "chroot", "--env", f"PORT={port}",
                             container, "--", *health[1:])
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0

        # `docker stop`: SIGTERM to PID 1, the gunicorn master. It drains (readyz 503 while
        # still serving), then stops its workers and exits 0.
        started = time.monotonic()
        master.send_signal(signal.SIGTERM)
        assert wait_until(lambda: httpx.get(base + "/-/readyz", timeout=1).status_code == 503,
                          drain)
        assert httpx.get(base + "/w_160,fmt_webp/landscape.jpg", timeout=5).status_code == 200
        master.wait(timeout=30)
        assert proc.wait(timeout=10) == 0, log_path.read_text()  # buildah run passes it on
        assert drain <= time.monotonic() - started < 30
        assert subprocess.run(check, capture_output=True, timeout=30).returncode != 0
        assert "Traceback" not in log_path.read_text()
        # Serving, caching, the healthcheck and the stop wrote nothing outside WRITABLE, so the
        # image runs with a read-only root filesystem (Kubernetes' readOnlyRootFilesystem).
        after = _files(mount, skip)
        changed = sorted(p for p in after.keys() | before.keys() if after.get(p) != before.get(p))
        assert not changed, changed
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        buildah("umount", container, check=False)
        buildah("rm", container, check=False)
