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
from transforms.hints import bucket_text, dpr_bucket

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
// imgix URLs keep their query (their options); auto=format negotiates, its comma as sent.
const imgix = (qs) => cfHandler({request: {uri: "/imgix/a.jpg",
                                           headers: {accept: {value: accepts[0]}},
                                           cookies: {s: {value: "1"}}, querystring: qs}});
const kept = imgix({w: {value: "10"}, auto: {value: "compress%2Cformat"}});
out.cloudfrontImgix = [kept.headers.accept.value, kept.querystring, kept.cookies,
                       imgix({w: {value: "10"}, fm: {value: "png"}}).headers.accept.value];
// On the imgix hostname every path is an imgix URL: the prefix is put in front.
const onHost = cfHandler({request: {uri: "/a.jpg", cookies: {}, querystring: {w: {value: "9"}},
                                    headers: {host: {value: "Imgix.Example.com"},
                                              accept: {value: accepts[0]}}}});
out.cloudfrontImgixHost = [onHost.uri, onHost.querystring];
const r = await worker.default.fetch(new Request("https://img.test/w_1,fmt_auto/a.jpg?bust=1",
    {headers: {Accept: accepts[0], Cookie: "s=1"}}));
await worker.default.fetch(new Request("https://img.test/w_1,fmt_png/a.jpg?bust=1",
    {headers: {Accept: accepts[0]}}));
await worker.default.fetch(new Request("https://img.test/imgix/a.jpg?w=1&auto=format%2Ccompress",
    {headers: {Accept: accepts[0]}}));
await worker.default.fetch(new Request("https://img.test/imgix/a.jpg?w=1&fm=png",
    {headers: {Accept: accepts[0]}}));
await worker.default.fetch(new Request(
    "https://img.test/imgix/a.jpg?imgorigin-accept=webp&w=2&auto=format",
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
    # The Worker keys negotiated URLs by class in the query, drops cookies and client queries
    # but an imgix URL's, which it keeps as sent, the class after it.
    assert out["fetches"] == [
        ["https://img.test/w_1,fmt_auto/a.jpg?imgorigin-accept=avif", "image/avif", None],
        ["https://img.test/w_1,fmt_png/a.jpg", "image/avif", None],
        ["https://img.test/imgix/a.jpg?w=1&auto=format%2Ccompress&imgorigin-accept=avif",
         "image/avif", None],
        ["https://img.test/imgix/a.jpg?w=1&fm=png", "image/avif", None],
        # A class parameter the client sent is not passed on: the Worker's own is.
        ["https://img.test/imgix/a.jpg?w=2&auto=format&imgorigin-accept=avif", "image/avif",
         None],
    ]
    # The CloudFront Function keeps an imgix query (its cache behaviour keys on it), and
    # negotiates auto=format only.
    assert out["cloudfrontImgix"] == [
        "image/avif", {"w": {"value": "10"}, "auto": {"value": "compress%2Cformat"}}, {}, "*/*"]
    assert out["cloudfrontImgixHost"] == ["/imgix/a.jpg", {"w": {"value": "9"}}]
    assert out["purgeBlocked"] == 404


def _regexes(text: str) -> list[str]:
    return re.findall(r'req\.http\.Accept ~ "([^"]+)"', text)


def test_fastly_snippets_use_the_tested_varnish_rules() -> None:
    varnish = _regexes((EDGE / "varnish" / "default.vcl").read_text())
    fastly = _regexes((EDGE / "fastly" / "recv.vcl").read_text())
    assert len(varnish) == 2 and fastly == varnish


@pytest.mark.parametrize("name", ["cloudflare/cache-rules.json", "cloudfront/cache-policy.json",
                                  "cloudfront/cache-policy-no-vary.json",
                                  "cloudfront/cache-policy-imgix.json",
                                  "cloudfront/origin-request-policy.json"])
def test_edge_json_is_well_formed(name: str) -> None:
    value = json.loads((EDGE / name).read_text())
    if name.startswith("cloudfront/cache-policy"):
        params = value["ParametersInCacheKeyAndForwardedToOrigin"]
        headers = params["HeadersConfig"]
        if headers["HeaderBehavior"] == "whitelist":
            assert headers["Headers"]["Quantity"] == len(headers["Headers"]["Items"])


DPRS = ["", "1", "1.0", "0.5", ".5", ".", "0", "1.", "1.0001", "1.05", "1.25", "1.5", "1.50",
        "1.5000001", "1.75", "2", "2.000", "2.0001", "2.625", "3", "3.0", "3.01", "4", "10",
        "99999999999", " 2 ", "02", "-2", "2e0", "inf", "nan", "2,3", "abc", "1.5.1"]

HINTS_HARNESS = r"""
import { readFileSync } from "node:fs";
const [workerPath, functionSource, dprs] = JSON.parse(readFileSync(0, "utf8"));
const worker = await import(workerPath);
const handler = (source) => new Function(source + "; return handler;")();
const cfOff = handler(functionSource);
const cfOn = handler(functionSource.replace("var CLIENT_HINTS = false;",
                                            "var CLIENT_HINTS = true;"));
const seen = [];
globalThis.fetch = async (req) => {
  seen.push([req.url, req.headers.get("sec-ch-dpr")]);
  return new Response("x");
};
const event = (dpr) => ({request: {uri: "/w_1/a.jpg", headers: {"sec-ch-dpr": {value: dpr}},
                                   cookies: {}, querystring: {}}});
const out = {
  worker: dprs.map((d) => worker.dprStep(d)),
  cloudfrontOn: dprs.map((d) => cfOn(event(d)).headers["sec-ch-dpr"].value),
  cloudfrontOff: dprs.map((d) => cfOff(event(d)).headers["sec-ch-dpr"].value),
  cloudfrontMissing: cfOn({request: {uri: "/w_1/a.jpg", headers: {}, cookies: {},
                                     querystring: {}}}).headers["sec-ch-dpr"].value,
};
await worker.default.fetch(new Request("https://img.test/w_1,fmt_auto/a.jpg",
    {headers: {Accept: "image/webp", "Sec-CH-DPR": "2.625"}}));
await worker.default.fetch(new Request("https://img.test/w_1/a.jpg",
    {headers: {"Sec-CH-DPR": "1.25"}}));
out.fetches = seen;
console.log(JSON.stringify(out));
"""


def run_hints_node(tmp_path: Path, worker_text: str) -> dict:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed: the edge JavaScript is not exercised here")
    worker = tmp_path / "worker-hints.mjs"
    worker.write_text(worker_text)
    done = subprocess.run(
        [node, "--input-type=module", "-e", HINTS_HARNESS], capture_output=True, text=True,
        timeout=60, input=json.dumps([
            worker.as_uri(), (EDGE / "cloudfront" / "accept-normalise.js").read_text(), DPRS]))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_r16_edge_scripts_round_dpr_hints_like_the_origin(tmp_path: Path) -> None:
    source = (EDGE / "cloudflare" / "worker.js").read_text()
    expected = [bucket_text(dpr_bucket(d)) for d in DPRS]
    off = run_hints_node(tmp_path, source)
    assert off["worker"] == expected
    assert off["cloudfrontOn"] == expected
    assert off["cloudfrontOff"] == ["1"] * len(DPRS)  # in the key, but constant without hints
    assert off["cloudfrontMissing"] == "1"
    # Without its switch the Worker keeps the hint from the origin and out of the key.
    assert off["fetches"] == [["https://img.test/w_1,fmt_auto/a.jpg?imgorigin-accept=webp", None],
                              ["https://img.test/w_1/a.jpg", None]]
    switched = source.replace("const CLIENT_HINTS = false;", "const CLIENT_HINTS = true;")
    assert switched != source
    on = run_hints_node(tmp_path, switched)
    assert on["fetches"] == [
        ["https://img.test/w_1,fmt_auto/a.jpg?imgorigin-accept=webp&imgorigin-dpr=3", "3"],
        ["https://img.test/w_1/a.jpg?imgorigin-dpr=1.5", "1.5"],
    ]


def _dpr_regexes(text: str) -> list[str]:
    return re.findall(r'req\.http\.Sec-CH-DPR ~ "([^"]+)"', text)


def test_dpr_rules_are_one_set_in_every_edge() -> None:
    varnish = _dpr_regexes((EDGE / "varnish" / "default.vcl").read_text())
    assert len(varnish) == 6
    assert _dpr_regexes((EDGE / "fastly" / "recv.vcl").read_text()) == varnish
    nginx = re.findall(r'"~(\^[^"]+)" "[\d.]+";',
                       (EDGE / "nginx" / "imgorigin.conf").read_text())
    assert nginx == varnish
    for script in ("cloudflare/worker.js", "cloudfront/accept-normalise.js"):
        js = re.findall(r"\[/(\^[^/]+)/, \"[\d.]+\"\]", (EDGE / script).read_text())
        assert js == varnish, script
