"""deploy/kubernetes: every manifest is valid for Kubernetes (its published schemas, strict), the
pieces name each other, the pod writes only where the image may and has room for its workers,
and a server started as the pod starts it (the image's environment, the ConfigMap, the Secret's
file in a kubelet-made volume, Redis with redis.yaml's own arguments) answers the probes, the
scrape and a purge with the Secret's token, and keeps its variants in that Redis.

No cluster runs on these machines (no container daemon), so the pod itself is not scheduled;
tests/deploy/test_container.py runs the image."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import redis
import yaml

from origin.settings import Settings, unknown_names
from tests.deploy.test_container import WRITABLE
from tests.support.kubelet import write_volume
from tests.support.origin import REPO, OriginProcess
from tests.support.redis_server import RedisProcess

FOLDER = REPO / "deploy" / "kubernetes"
DOCKERFILE = REPO / "Dockerfile"
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # an older release still in use, the newest
GRACEFUL_TIMEOUT = 20  # `imgorigin serve`'s default for the requests in flight
MASTER_BYTES = 128 << 20  # the gunicorn master and libvips' own allocations outside the workers


def documents() -> list[dict[str, Any]]:
    """Every resource the kustomization lists, in its order."""
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((FOLDER / name).read_text()) if d]
    return docs


def resource(kind: str, name: str) -> dict[str, Any]:
    found = [d for d in documents() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    return found[0]


def pod_spec() -> dict[str, Any]:
    return resource("Deployment", "imgorigin")["spec"]["template"]["spec"]  # type: ignore[no-any-return]


def container() -> dict[str, Any]:
    (only,) = pod_spec()["containers"]
    return only  # type: ignore[no-any-return]


def image_environment() -> dict[str, str]:
    """The Dockerfile's ENV instructions (NAME=value pairs, continued lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    env: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def image_user() -> tuple[int, int]:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", DOCKERFILE.read_text(), re.MULTILINE)
    return int(user[0]), int(user[1])


def bytes_of(quantity: str) -> int:
    """A Kubernetes memory quantity (`1Gi`, `768Mi`, `64M`) in bytes."""
    number, unit = re.fullmatch(r"(\d+)([KMGT]i?)?", quantity).groups()  # type: ignore[union-attr]
    powers = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40,
              "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, None: 1}
    return int(number) * powers[unit]


def cpus_of(quantity: str) -> float:
    return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def configmap_env() -> dict[str, str]:
    return resource("ConfigMap", "imgorigin")["data"]  # type: ignore[no-any-return]


def test_the_kustomization_lists_every_manifest_of_the_folder() -> None:
    kustomization = yaml.safe_load((FOLDER / "kustomization.yaml").read_text())
    on_disk = {p.name for p in FOLDER.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(on_disk)
    assert [i["name"] for i in kustomization["images"]] == [container()["image"]]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_manifest_is_valid_for_kubernetes(version: str) -> None:
    for doc in documents():
        # strict: a field the schema does not know (a typo) fails too.
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_pieces_name_each_other() -> None:
    deployment = resource("Deployment", "imgorigin")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert resource("Service", "imgorigin")["spec"]["selector"].items() <= labels.items()
    pdb = resource("PodDisruptionBudget", "imgorigin")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = resource("HorizontalPodAutoscaler", "imgorigin")["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": "imgorigin"}
    # A purge reaches every pod only through a shared Redis: never fewer than two pods without it.
    assert hpa["minReplicas"] >= 2 and "IMGORIGIN_REDIS_URL" in configmap_env()

    ports = {p["name"]: p["containerPort"] for p in container()["ports"]}
    assert ports == {"http": int(image_environment()["PORT"])}
    assert resource("Service", "imgorigin")["spec"]["ports"][0]["targetPort"] == "http"
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == ports["http"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container()[probe]["httpGet"]["port"] == "http"

    redis_service = resource("Service", "imgorigin-redis")["spec"]
    redis_pod = resource("Deployment", "imgorigin-redis")["spec"]["template"]
    assert redis_service["selector"].items() <= redis_pod["metadata"]["labels"].items()
    url = httpx.URL(configmap_env()["IMGORIGIN_REDIS_URL"])
    assert (url.host, url.port) == ("imgorigin-redis", redis_service["ports"][0]["port"])
    # Redis, which takes no password, admits imgorigin's pods alone.
    policy = resource("NetworkPolicy", "imgorigin-redis")["spec"]
    assert policy["podSelector"]["matchLabels"].items() <= redis_pod["metadata"]["labels"].items()
    assert policy["policyTypes"] == ["Ingress"]
    (rule,) = policy["ingress"]
    (peer,) = rule["from"]
    assert peer == {"podSelector": {"matchLabels": deployment["spec"]["selector"]["matchLabels"]}}
    redis_ports = {p["name"] for p in redis_pod["spec"]["containers"][0]["ports"]}
    assert [p["port"] for p in rule["ports"]] == list(redis_ports)


def test_the_pod_writes_only_where_the_image_may_and_runs_as_its_user() -> None:
    spec, box = pod_spec(), container()
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert box["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    user, group = image_user()
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert (spec["securityContext"]["runAsUser"], spec["securityContext"]["runAsGroup"]) == (
        user, group)
    mounts = {m["mountPath"]: m for m in box["volumeMounts"]}
    writable = {path for path, m in mounts.items() if not m.get("readOnly")}
    assert writable == set(WRITABLE)  # the places the container test found the server writes
    env = image_environment()
    assert env["IMGORIGIN_CACHE_DIR"] in writable
    settings_dir = str(Path(env["IMGORIGIN_ENV_FILE"].removeprefix("-")).parent)
    assert mounts[settings_dir]["readOnly"] is True
    volumes = {v["name"]: v for v in spec["volumes"]}
    secret = volumes[mounts[settings_dir]["name"]]["secret"]
    # Optional, so the pods start before it exists; no subPath, so updates reach the pod.
    assert secret["optional"] is True and "subPath" not in mounts[settings_dir]
    settings = Settings.from_env({**env, **configmap_env()})
    cache_volume = volumes[mounts[env["IMGORIGIN_CACHE_DIR"]]["name"]]["emptyDir"]
    assert bytes_of(cache_volume["sizeLimit"]) > settings.disk_cache_max_bytes


def test_every_setting_the_manifests_and_the_image_name_exists() -> None:
    env = {**image_environment(), **configmap_env()}
    assert unknown_names(env) == []
    Settings.from_env(env)  # and parses


def test_the_pod_has_room_for_its_workers_and_its_stop() -> None:
    box, spec = container(), pod_spec()
    settings = Settings.from_env({**image_environment(), **configmap_env()})
    limits, requests = box["resources"]["limits"], box["resources"]["requests"]
    # `imgorigin serve` starts one worker per CPU of the cgroup's quota, rounded up.
    workers = math.ceil(cpus_of(limits["cpu"]))
    assert bytes_of(limits["memory"]) >= workers * settings.worker_rss_cap + MASTER_BYTES
    assert requests == limits  # the Guaranteed class
    # The drain, then the requests in flight, then the kill.
    assert spec["terminationGracePeriodSeconds"] >= settings.drain_seconds + GRACEFUL_TIMEOUT
    # The pod leaves the endpoints (readyz 503) before it stops accepting.
    readiness = box["readinessProbe"]
    assert readiness["periodSeconds"] * readiness["failureThreshold"] < settings.drain_seconds
    redis_box = resource("Deployment", "imgorigin-redis")["spec"]["template"]["spec"][
        "containers"][0]
    args = redis_box["args"]
    maxmemory = args[args.index("--maxmemory") + 1]
    assert bytes_of(redis_box["resources"]["limits"]["memory"]) > bytes_of(
        maxmemory.replace("mb", "Mi").replace("gb", "Gi"))


def test_a_pod_started_as_the_manifests_say_serves_with_its_redis_and_secret(
        tmp_path: Path) -> None:
    redis_args = resource("Deployment", "imgorigin-redis")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    assert redis_args[0] == "redis-server"
    shared = RedisProcess(extra=redis_args[1:]).start()  # redis-server refuses a bad argument
    try:
        client = redis.Redis(port=shared.port)
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert int(client.config_get("maxmemory")["maxmemory"]) > 0

        volume = tmp_path / "etc-imgorigin"
        write_volume(volume, {"imgorigin.env": "IMGORIGIN_PURGE_TOKENS=from-the-secret\n"})
        env = {**image_environment(), **configmap_env()}
        for machine_specific in ("PATH", "PORT", "IMGORIGIN_CACHE_DIR"):
            env.pop(machine_specific)
        env["IMGORIGIN_REDIS_URL"] = shared.url  # the Service's name, on this machine
        env["IMGORIGIN_ENV_FILE"] = f"-{volume / 'imgorigin.env'}"
        with OriginProcess(env, workers=2) as server:
            box = container()
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                answer = httpx.get(server.url(box[probe]["httpGet"]["path"]), timeout=5)
                assert answer.status_code == 200, (probe, answer.text)
            assert httpx.get(server.url("/-/readyz"), timeout=5).json()["status"] == "ok"
            assert httpx.get(server.url("/w_64/landscape.jpg"), timeout=30).status_code == 200
            assert client.dbsize() > 0  # the variant went to the shared Redis
            path = resource("Deployment", "imgorigin")["spec"]["template"]["metadata"][
                "annotations"]["prometheus.io/path"]
            assert "imgorigin_transforms_total" in httpx.get(server.url(path), timeout=5).text
            purge = httpx.post(server.url("/-/purge"), json={"sources": ["landscape.jpg"]},
                               headers={"Authorization": "Bearer from-the-secret"}, timeout=10)
            assert purge.status_code == 200, purge.text
    finally:
        shared.stop()
