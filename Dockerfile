# imgorigin's container image: `docker build -t imgorigin .` (or `podman build`), then
# `docker run -p 8080:8080 imgorigin` serves the bundled samples as `make run` does, and
# `docker run -p 8080:8080 -e IMGORIGIN_SOURCE=https://images.example.com imgorigin` (or a
# directory mounted read-only) serves yours. docs/operations.md ("Container image") explains
# each choice; tests/deploy/test_container.py builds this file and serves through the image.
#
# BASE is any Debian 12 (bookworm) image: its Python 3.11 runs the server and pyvips-binary
# brings libvips, so no system libvips or compiler is needed. EXTRAS are the optional parts
# installed: `s3` (botocore, for s3:// sources) and `faces` (OpenCV, for g_face/g_faces and
# thumbor's smart); `--build-arg EXTRAS=s3` makes an image about 230 MB smaller without faces.
ARG BASE=debian:bookworm-slim
FROM ${BASE}
ARG EXTRAS=s3,faces

# fonts-dejavu-core: the sans-serif `text_` draws with (fontconfig picks it as the default).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv \
      fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 imgorigin \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin imgorigin \
 && install -d -o 10001 -g 10001 /var/cache/imgorigin \
 && install -d /etc/imgorigin

# The project is installed in place (as `make run` does), so the bundled samples and the demo
# page sit where the server looks for them; the image holds only what the server runs.
COPY pyproject.toml README.md /app/
COPY origin /app/origin
COPY transforms /app/transforms
COPY cache /app/cache
COPY samples /app/samples
RUN python3 -m venv /opt/imgorigin \
 && /opt/imgorigin/bin/pip install --no-cache-dir --disable-pip-version-check -e "/app[${EXTRAS}]" \
 && /opt/imgorigin/bin/python -m compileall -q /app/origin /app/transforms /app/cache \
 && /opt/imgorigin/bin/imgorigin config > /dev/null

# Settings may also come from a file mounted at /etc/imgorigin/imgorigin.env (a ConfigMap or
# Secret): read at start and again on SIGHUP (`docker kill --signal HUP`); it may be absent.
ENV PATH=/opt/imgorigin/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PORT=8080 \
    IMGORIGIN_CACHE_DIR=/var/cache/imgorigin \
    IMGORIGIN_DRAIN_SECONDS=5 \
    IMGORIGIN_ENV_FILE=-/etc/imgorigin/imgorigin.env

# A numeric user, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
USER 10001:10001
WORKDIR /app
EXPOSE 8080

# Liveness only (/-/healthz); a load balancer should watch /-/readyz, which turns 503 while the
# server drains on SIGTERM (IMGORIGIN_DRAIN_SECONDS).
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/-/healthz' % os.environ.get('PORT', '8080'), timeout=2)"]

# The gunicorn master is PID 1: it handles SIGTERM (5 s of drain, then the workers finish what
# is in flight, 20 s at most: `docker stop --time 30` leaves room for both) and reaps its children.
# Arguments after the image name go to `imgorigin serve`, e.g. `--workers 4`; by default one
# worker per CPU the container may use (its cgroup's CPU quota included).
ENTRYPOINT ["imgorigin", "serve", "--host", "0.0.0.0"]
