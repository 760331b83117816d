"""S1-S3: signed URLs. Checked first (before parsing or any fetch), by position, with rotation
and expiry; plus `imgorigin url --sign`."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

import pytest

from origin import cli
from origin.errors import Forbidden
from origin.security import signing
from tests.security.support import AppServer, jpeg
from tests.support.upstream import Upstream

K1 = "6b6579206f6e65206b6579206f6e65"  # old key
K2 = "a1b2c3d4e5f60718293a4b5c6d7e8f90"  # new key
FILE = "sig/cat.jpg"


def signed(path: str, key: str = K1) -> str:
    return "/" + signing.sign(path, key) + path


@pytest.fixture(scope="module")
def source(upstream: Upstream) -> Upstream:
    upstream.add(FILE, jpeg())
    return upstream


@pytest.fixture(scope="module")
def both_keys(source: Upstream) -> Iterator[AppServer]:
    with AppServer({"IMGORIGIN_SOURCE": source.base + "/files",
                    "IMGORIGIN_SIGNING_KEYS": f"{K1},{K2}"}) as server:
        yield server


@pytest.fixture(scope="module")
def new_key_only(source: Upstream) -> Iterator[AppServer]:
    with AppServer({"IMGORIGIN_SOURCE": source.base + "/files",
                    "IMGORIGIN_SIGNING_KEYS": K2}) as server:
        yield server


def hits(upstream: Upstream) -> int:
    return upstream.hits["/files/" + FILE]


def test_s1_valid_signature_is_served(both_keys: AppServer) -> None:
    r = both_keys.get(signed(f"/w_16/{FILE}"))
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "image/jpeg"


@pytest.mark.parametrize("case", [
    "tampered options", "tampered source", "tampered signature byte", "truncated signature",
    "missing signature", "empty signature", "wrong key", "signature only",
    "bad options under a bad signature", "forbidden source under a bad signature",
    "percent-encoding changed",
])
def test_s1_tampered_or_missing_signature_is_403(both_keys: AppServer, source: Upstream,
                                                  case: str) -> None:
    good = signed(f"/w_20/{FILE}")
    sig = good.split("/")[1]
    flipped = sig[:10] + ("A" if sig[10] != "A" else "B") + sig[11:]
    path = {
        "tampered options": good.replace("/w_20/", "/w_21/"),
        "tampered source": good.replace("cat.jpg", "dog.jpg"),
        "tampered signature byte": good.replace(sig, flipped),
        "truncated signature": good.replace(sig, sig[:-1]),
        "missing signature": f"/w_20/{FILE}",
        "empty signature": f"//w_20/{FILE}",
        "wrong key": signed(f"/w_20/{FILE}", "00" * 16),
        "signature only": "/" + sig,
        # A path that would be a 400 or a 403 for other reasons is still refused for its
        # signature first: nothing looks at an unauthenticated path.
        "bad options under a bad signature": f"/{flipped}/w_0400,zoom_9/{FILE}",
        "forbidden source under a bad signature": f"/{flipped}/_/file:%2F%2F%2Fetc%2Fpasswd",
        "percent-encoding changed": good.replace("sig/cat.jpg", "sig%2Fcat.jpg"),
    }[case]
    before = hits(source)
    r = both_keys.get(path)
    assert r.status_code == 403, (case, r.status_code, r.text)
    assert r.json()["error"] == "forbidden"
    assert r.headers["cache-control"] == "no-store"
    assert hits(source) == before


def test_s1_signature_is_compared_as_bytes() -> None:
    # A non-ASCII signature (the raw path is decoded as latin-1) must be a 403, not a
    # TypeError from hmac.compare_digest on str.
    with pytest.raises(Forbidden):
        signing.verify("\xe9" * 43, "/w_1/a.jpg", [K1], signing.sign)
    with pytest.raises(Forbidden):
        signing.verify("", "/w_1/a.jpg", [K1], signing.sign)


@pytest.mark.parametrize("shape", ["repeated", "injected in source", "appended"])
def test_s2_signature_injected_in_the_path_is_403(both_keys: AppServer, source: Upstream,
                                                   shape: str) -> None:
    path = f"/w_24/{FILE}"
    sig = signing.sign(path, K1)
    attack = {
        "repeated": f"/{sig}/{sig}/w_24/{FILE}",
        "injected in source": f"/{sig}/w_24/{sig}/{FILE}",
        "appended": f"/{sig}/w_24/{FILE}/{sig}",
    }[shape]
    # Each shape turns back into the signed path if a server strips the signature by string
    # replacement instead of by position (the thumbor CVE shape).
    assert attack.replace("/" + sig, "") == path
    before = hits(source)
    r = both_keys.get(attack)
    assert r.status_code == 403, (shape, r.text)
    assert hits(source) == before
    assert both_keys.get("/" + sig + path).status_code == 200


def test_s2_signed_string_is_positional() -> None:
    assert signing.split("/SIG/w_1/SIG/a.jpg") == ("SIG", "/w_1/SIG/a.jpg")
    assert signing.split("/SIG") == ("SIG", "")
    assert signing.split("/SIG/") == ("SIG", "/")


def test_s3_key_rotation(both_keys: AppServer, new_key_only: AppServer) -> None:
    old = signed(f"/w_28/{FILE}", K1)
    new = signed(f"/w_28/{FILE}", K2)
    # While both keys are listed, both signatures work.
    assert both_keys.get(old).status_code == 200
    assert both_keys.get(new).status_code == 200
    # After the old key is removed, its URLs stop working; the new key's keep working.
    assert new_key_only.get(old).status_code == 403
    assert new_key_only.get(new).status_code == 200


def test_s3_expiry(both_keys: AppServer, source: Upstream) -> None:
    future = int(time.time()) + 3600
    past = int(time.time()) - 1
    assert both_keys.get(signed(f"/w_30,exp_{future}/{FILE}")).status_code == 200
    before = hits(source)
    r = both_keys.get(signed(f"/w_30,exp_{past}/{FILE}"))
    assert r.status_code == 403 and "expired" in r.json()["detail"]
    # Extending the expiry of a signed URL breaks its signature.
    stolen = signed(f"/w_30,exp_{past}/{FILE}")
    assert both_keys.get(stolen.replace(f"exp_{past}", f"exp_{future}")).status_code == 403
    assert hits(source) == before
    # exp_ is not part of the variant: the expiring URL shares the cached variant.
    r1 = both_keys.get(signed(f"/w_30/{FILE}"))
    assert r1.status_code == 200
    assert r1.headers["etag"] == both_keys.get(
        signed(f"/w_30,exp_{future}/{FILE}")).headers["etag"]


def test_s3_expiry_check_uses_the_clock() -> None:
    signing.check_expiry(None)
    signing.check_expiry(100, now=100)
    with pytest.raises(Forbidden):
        signing.check_expiry(99, now=100)


def _cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = cli.main(list(argv))
    return code, out.getvalue().strip()


def test_s1_cli_signs_urls_the_server_accepts(both_keys: AppServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMGORIGIN_SIGNING_KEYS", f"{K2},{K1}")
    code, path = _cli("url", "width_0032,fmt_jpg", FILE, "--sign")
    assert code == 2  # leading zeros are refused, as the server would
    code, path = _cli("url", "width_32,fmt_jpg", FILE, "--sign")
    assert code == 0
    # Canonical options, signed with the first key.
    assert path == signed(f"/fmt_jpeg,w_32/{FILE}", K2)
    assert both_keys.get(path).status_code == 200
    code, path = _cli("url", "w_32", FILE, "--sign", "--expires", "60")
    assert code == 0 and ",exp_" in path
    assert both_keys.get(path).status_code == 200
    code, path = _cli("url", "w_32", FILE, "--sign", "--base", "https://img.example.com/")
    assert path.startswith("https://img.example.com/") and path.endswith(FILE)
    monkeypatch.delenv("IMGORIGIN_SIGNING_KEYS")
    assert _cli("url", "w_32", FILE, "--sign")[0] == 2


def test_s1_cli_encodes_absolute_sources_once() -> None:
    path = cli.build_url("w_10", "https://cdn.example.com/a b/c.jpg?v=1", sign_key=K1)
    sig, signed_path = signing.split(path)
    assert signed_path == "/w_10/https://cdn.example.com/a%20b/c.jpg%3Fv%3D1"
    signing.verify(sig, signed_path, [K1], signing.sign)
