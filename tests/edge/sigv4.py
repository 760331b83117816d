"""An independent AWS Signature Version 4 check, written from the published algorithm (not
botocore), so the test proves what CloudFront would verify on the bytes it receives."""

from __future__ import annotations

import hashlib
import hmac

from tests.edge.recorder import Recorded


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def verify(req: Recorded, secret: str, region: str, service: str) -> str:
    """Raise AssertionError unless `req` carries a valid SigV4 signature; return the access key."""
    auth = req.headers["authorization"]
    algorithm, _, rest = auth.partition(" ")
    assert algorithm == "AWS4-HMAC-SHA256", auth
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    access_key, date, scope_region, scope_service, terminal = parts["Credential"].split("/")
    assert (scope_region, scope_service, terminal) == (region, service, "aws4_request")
    amz_date = req.headers["x-amz-date"]
    assert amz_date.startswith(date)
    signed = parts["SignedHeaders"].split(";")
    assert "host" in signed and "x-amz-date" in signed, signed
    path, _, query = req.path.partition("?")
    canonical_headers = "".join(f"{h}:{' '.join(req.headers[h].split())}\n" for h in signed)
    canonical = "\n".join([req.method, path, query, canonical_headers, ";".join(signed),
                           hashlib.sha256(req.body).hexdigest()])
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service),
                "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["Signature"]), "SigV4 signature does not verify"
    return access_key
