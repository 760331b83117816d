"""Signed Cloudinary URLs (IMGORIGIN_CLOUDINARY_SECRETS), built by Cloudinary's own Python SDK
(`cloudinary.utils.cloudinary_url`, the code sites run; it builds URLs offline) and answered by a
real server that also requires signed native URLs: short SHA-1 and SHA-256 signatures, the long
one, versions, chains, fetch URLs of a real upstream, text drawn on signed URLs, and the 403s for
an unsigned, tampered or foreign URL. Not a mock of Cloudinary: no Cloudinary runs here."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import pyvips

from origin.settings import Settings, SettingsError
from tests.support.origin import REPO, OriginProcess
from tests.support.upstream import Upstream

cloudinary_utils = pytest.importorskip(
    "cloudinary.utils", reason="Cloudinary's SDK is a test dependency (pip install '.[test]')")

SECRETS = ("retired-api-secret", "current-api-secret")


def sdk_url(public_id: str, secret: str = SECRETS[1], **options: Any) -> str:
    """The path Cloudinary's SDK writes for the cloud `demo`, signed with `secret`."""
    url, _ = cloudinary_utils.cloudinary_url(public_id, cloud_name="demo", api_key="1",
                                             api_secret=secret, sign_url=True, **options)
    return urlsplit(url).path


@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    with Upstream() as server:
        server.add("remote photo.jpg", (REPO / "samples" / "landscape.jpg").read_bytes())
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           upstream: Upstream) -> Iterator[OriginProcess]:
    root = tmp_path_factory.mktemp("cloudinary-signed")
    (root / "products").mkdir()
    shutil.copy(REPO / "samples" / "landscape.jpg", root / "products" / "shoe.jpg")
    with OriginProcess({"IMGORIGIN_SOURCE": str(root), "IMGORIGIN_CLOUDINARY_PREFIX": "demo",
                        "IMGORIGIN_CLOUDINARY_SECRETS": ",".join(SECRETS),
                        "IMGORIGIN_SIGNING_KEYS": "ab" * 16,
                        "IMGORIGIN_ALLOWED_HOSTS": "127.0.0.1",
                        "IMGORIGIN_ALLOW_PRIVATE_NETWORKS": "true"}) as origin:
        yield origin


def get(server: OriginProcess, path: str) -> httpx.Response:
    return httpx.get(server.url(path), timeout=30)


def image(response: httpx.Response) -> pyvips.Image:
    assert response.status_code == 200, response.text
    return pyvips.Image.new_from_buffer(response.content, "")


@pytest.mark.parametrize(("options", "size"), [
    ({"transformation": [{"crop": "fill", "width": 120, "height": 80},
                         {"fetch_format": "auto"}, {"quality": "auto"}], "version": 17},
     (120, 80)),
    ({"width": 100, "crop": "scale"}, (100, 67)),
    # An account set to SHA-256 signs short URLs with it; long signatures always are.
    ({"width": 90, "signature_algorithm": "sha256"}, (90, 60)),
    ({"width": 80, "height": 80, "crop": "pad", "long_url_signature": True}, (80, 80)),
])
def test_urls_the_sdk_signs_are_answered(server: OriginProcess, options: dict[str, Any],
                                         size: tuple[int, int]) -> None:
    path = sdk_url("products/shoe.jpg", **options)
    assert "/s--" in path
    got = image(get(server, path))
    assert (got.width, got.height) == size


def test_a_url_signed_with_a_retired_secret_still_passes(server: OriginProcess) -> None:
    assert image(get(server, sdk_url("products/shoe.jpg", SECRETS[0], width=70))).width == 70


def test_a_signed_fetch_url_reads_the_upstream(server: OriginProcess,
                                               upstream: Upstream) -> None:
    # The SDK escapes the remote URL (the space here) and signs it as escaped.
    path = sdk_url(f"{upstream.base}/files/remote photo.jpg", type="fetch", width=60)
    assert "%20" in path
    assert image(get(server, path)).width == 60
    assert upstream.total_hits("/files/remote") >= 1


def test_text_is_drawn_on_signed_cloudinary_urls(server: OriginProcess) -> None:
    # IMGORIGIN_TEXT_OVERLAYS=signed (the default): Cloudinary URLs are the site's own once
    # their signature is required, as native URLs are.
    overlay = [{"width": 200}, {"overlay": {"font_family": "Arial", "font_size": 30,
                                            "text": "Hello"}, "color": "#ffffff"}]
    text = image(get(server, sdk_url("products/shoe.jpg", transformation=overlay)))
    plain = image(get(server, sdk_url("products/shoe.jpg", width=200)))
    assert (text.width, text.height) == (plain.width, plain.height)
    assert (text - plain).abs().max() > 100


@pytest.mark.parametrize("change", [
    lambda p: p.replace("w_50", "w_51"),                      # tampered transformation
    lambda p: p.replace("shoe.jpg", "other.jpg"),             # another image
    lambda p: p.replace("/s--", "/s--A"),                   # a signature too long
    lambda p: "/".join(s for s in p.split("/") if not s.startswith("s--")),  # unsigned
])
def test_s1_unsigned_or_altered_urls_are_403(server: OriginProcess, change: Any) -> None:
    path = change(sdk_url("products/shoe.jpg", width=50))
    r = get(server, path)
    assert r.status_code == 403, (path, r.text)
    assert r.json()["detail"] in ("invalid signature", "missing signature")


def test_s1_a_url_signed_with_another_secret_is_403(server: OriginProcess) -> None:
    r = get(server, sdk_url("products/shoe.jpg", "someone-elses-secret", width=50))
    assert r.status_code == 403 and r.json()["detail"] == "invalid signature"


def test_s2_a_signature_is_read_by_position_only(server: OriginProcess) -> None:
    # The signature is the segment after the delivery type; one injected later (or the valid
    # one moved later) is part of the signed string, never taken out of it.
    path = sdk_url("products/shoe.jpg", width=50)
    signature = next(s for s in path.split("/") if s.startswith("s--"))
    injected = path.replace("/w_50/", f"/{signature}/w_50/")
    moved = path.replace(f"/{signature}/w_50/", f"/w_50/{signature}/")
    for altered in (injected, moved):
        r = get(server, altered)
        assert r.status_code == 403, (altered, r.text)


def test_the_version_is_not_signed(server: OriginProcess) -> None:
    # Cloudinary's SDKs sign transformations and public ID only: a new version (a cache buster)
    # keeps the signature valid, as on Cloudinary.
    path = sdk_url("products/shoe.jpg", width=40, version=1)
    assert "/v1/" in path
    assert get(server, path.replace("/v1/", "/v1700000000/")).status_code == 200


def test_native_urls_stay_signed(server: OriginProcess) -> None:
    assert get(server, "/w_40/products/shoe.jpg").status_code == 403


def test_settings_ask_for_secrets_beside_native_signing() -> None:
    env = {"IMGORIGIN_CLOUDINARY_PREFIX": "demo", "IMGORIGIN_SIGNING_KEYS": "00" * 16}
    with pytest.raises(SettingsError, match="IMGORIGIN_CLOUDINARY_SECRETS"):
        Settings.from_env(env)
    signed = Settings.from_env({**env, "IMGORIGIN_CLOUDINARY_SECRETS": "a,b"})
    assert signed.cloudinary_secrets == ("a", "b")
