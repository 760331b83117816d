"""The Cloudflare Worker and CloudFront Function run under Node (their JavaScript is standard)
and must put every Accept header in the class the origin's own negotiation picks; the Fastly
snippets must use the Varnish VCL's tested rules; the JSON policies must be well-formed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.edge.accepts import CHROME, FIREFOX, LEGACY, SAFARI_15
from tests.support.origin import REPO
from transforms.formats import negotiate

EDGE = REPO / "edge-config"
ACCEPTS = [CHROME, FIREFOX, SAFARI_15, LEGACY, "", "*/*", "image/*", "IMAGE/AVIF",
           "image/avif;q=0, image/webp", "image/avif;q=0.0,image/webp;q=0", "image/avifx",
           "image/webp;q=0.5", "text/html,image/avif ;q=0.9", "image/jpeg, image/webp"]
CLASS = {"avif": "avif", "webp": "webp", "legacy": "other"}

HARNESS = r"""
import { readFileSync } from "node:fs";
const [workerPath, functionPath, accepts] = JSON.parse(readFileSync(0, "utf8"));
const worker = await import(workerPath);
const cfHandler = new Function(readFileSync(functionPath, "utf8") + "; return handler;")();
const seen = [];
globalThis.fetch = async (req) => {
  seen.push([req.url, req.headers.get("accept"), req.headers.get("cookie")]);
  return new Response("x");
};
const out = {worker: [], cloudfront: [], fetches: seen};
for (const a of accepts) {
  out.worker.push(worker.acceptClass(a));
  const ev = {request: {uri: "/w_1,fmt_auto/a.jpg", headers: {accept: {value: a}},
                        cookies: {s: {value: "1"}}, querystring: {v: {value: "2"}}}};
  out.cloudfront.push(cfHandler(ev).headers.accept.value);
}
const explicit = cfHandler({request: {uri: "/w_1,fmt_webp/a.jpg",
                                      headers: {accept: {value: "image/avif"}},
                                      cookies: {}, querystring: {}}});
out.cloudfrontExplicit = explicit.headers.accept.value;
const r = await worker.default.fetch(new Request("https://img.test/w_1,fmt_auto/a.jpg?bust=1",
    {headers: {Accept: accepts[0], Cookie: "s=1"}}));
await worker.default.fetch(new Request("https://img.test/w_1,fmt_png/a.jpg?bust=1",
    {headers: {Accept: accepts[0]}}));
out.purgeBlocked = (await worker.default.fetch(new Request("https://img.test/-/purge"))).status;
console.log(JSON.stringify(out));
"""


def run_node(tmp_path: Path) -> dict:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed: the edge JavaScript is not exercised here")
    # Node loads the Worker as an ES module by extension.
    worker = tmp_path / "worker.mjs"
    worker.write_text((EDGE / "cloudflare" / "worker.js").read_text())
    done = subprocess.run(
        [node, "--input-type=module", "-e", HARNESS], capture_output=True, text=True,
        timeout=60, input=json.dumps([worker.as_uri(),
                                      str(EDGE / "cloudfront" / "accept-normalise.js"),
                                      ACCEPTS]))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_r16_edge_scripts_classify_accept_like_the_origin(tmp_path: Path) -> None:
    out = run_node(tmp_path)
    expected = [CLASS[negotiate(a)] for a in ACCEPTS]
    assert out["worker"] == expected
    header = {"avif": "image/avif", "webp": "image/webp", "other": "*/*"}
    assert out["cloudfront"] == [header[c] for c in expected]
    assert out["cloudfrontExplicit"] == "*/*"  # explicit formats: one object per URL
    # The Worker keys negotiated URLs by class in the query, drops cookies and client queries.
    assert out["fetches"] == [
        ["https://img.test/w_1,fmt_auto/a.jpg?imgorigin-accept=avif", "image/avif", None],
        ["https://img.test/w_1,fmt_png/a.jpg", "image/avif", None],
    ]
    assert out["purgeBlocked"] == 404


def _regexes(text: str) -> list[str]:
    return re.findall(r'req\.http\.Accept ~ "([^"]+)"', text)


def test_fastly_snippets_use_the_tested_varnish_rules() -> None:
    varnish = _regexes((EDGE / "varnish" / "default.vcl").read_text())
    fastly = _regexes((EDGE / "fastly" / "recv.vcl").read_text())
    assert len(varnish) == 2 and fastly == varnish


@pytest.mark.parametrize("name", ["cloudflare/cache-rules.json", "cloudfront/cache-policy.json",
                                  "cloudfront/cache-policy-no-vary.json",
                                  "cloudfront/origin-request-policy.json"])
def test_edge_json_is_well_formed(name: str) -> None:
    value = json.loads((EDGE / name).read_text())
    if name.startswith("cloudfront/cache-policy"):
        params = value["ParametersInCacheKeyAndForwardedToOrigin"]
        headers = params["HeadersConfig"]
        if headers["HeaderBehavior"] == "whitelist":
            assert headers["Headers"]["Quantity"] == len(headers["Headers"]["Items"])
