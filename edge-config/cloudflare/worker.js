// Cloudflare Worker in front of imgorigin, for plans whose cache does not vary on Accept.
//
// Each request's Accept is reduced to one of three classes (the origin's own rule: an explicit
// image/avif or image/webp not refused with q=0, else "other"); the origin gets that class as
// its Accept, and a negotiated (fmt_auto) URL is fetched with `?imgorigin-accept=CLASS`, which
// Cloudflare's default cache key includes and the origin ignores. So every cached URL holds one
// format, on every plan; signatures stay valid (they cover the path, not the query); purges by
// Cache-Tag still reach every class. Client query strings are dropped (no cache busting), but
// on imgix URLs (the origin's IMGORIGIN_IMGIX_PREFIX), whose query is their options: kept as
// sent, the class parameters after it (the origin's imgix reader and signature check skip them).
// Deploy: see edge-config/README.md (route it on the image hostname, e.g. img.example.com/*).

// Set to true when the origin runs with IMGORIGIN_DEFAULT_FORMAT=auto (no fmt_ means auto).
const DEFAULT_FORMAT_AUTO = false;
// Set to true when the origin runs with IMGORIGIN_CLIENT_HINTS=true: Sec-CH-DPR, rounded up to
// the origin's steps, then joins the cache key as `imgorigin-dpr=STEP`.
const CLIENT_HINTS = false;
// The origin's IMGORIGIN_IMGIX_PREFIX between slashes, or "" when imgix URLs are not served.
const IMGIX_PREFIX = "/imgix/";
// imgix's SDKs take a bare domain: on this hostname every path is an imgix URL, the prefix put
// in front here ("" for none).
const IMGIX_HOST = "imgix.example.com";

const AVIF = /(^|,)\s*image\/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
const WEBP = /(^|,)\s*image\/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
const EXPLICIT = /(^|[/,])(fmt|f|format)_(jpeg|jpg|png|webp|avif|gif|original)(,|\/)/;
const AUTO = /(^|[/,])(fmt|f|format)_auto(,|\/)/;

export function acceptClass(accept) {
  if (AVIF.test(accept || "")) return "avif";
  if (WEBP.test(accept || "")) return "webp";
  return "other";
}

// Sec-CH-DPR rounded up to the origin's steps (transforms/hints.py); missing or malformed is 1.
const DPR_STEPS = [
  [/^\s*0*(\.\d*)?\s*$/, "1"],
  [/^\s*0*1(\.0*)?\s*$/, "1"],
  [/^\s*0*1\.(0+[1-9]\d*|[1-4]\d*|50*)\s*$/, "1.5"],
  [/^\s*0*(1\.\d+|2(\.0*)?)\s*$/, "2"],
  [/^\s*0*(2\.\d+|3(\.0*)?)\s*$/, "3"],
  [/^\s*\d+(\.\d*)?\s*$/, "4"],
];

export function dprStep(value) {
  for (const [pattern, step] of DPR_STEPS) {
    if (pattern.test(value || "")) return step;
  }
  return "1";
}

// imgix's auto=format (one of auto's comma-separated values): AVIF or WebP where the browser
// takes them, whatever `fm` says.
const IMGIX_AUTO_FORMAT = /^(.*,)?format(,.*)?$/;

export function imgix(path) {
  return IMGIX_PREFIX !== "" && path.startsWith(IMGIX_PREFIX);
}

export function negotiated(path, params = new URLSearchParams()) {
  if (imgix(path)) {
    return IMGIX_AUTO_FORMAT.test(params.get("auto") || "");
  }
  if (AUTO.test(path)) return true;
  return DEFAULT_FORMAT_AUTO && !EXPLICIT.test(path);
}

const ACCEPT_HEADER = { avif: "image/avif", webp: "image/webp", other: "*/*" };

export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (IMGIX_PREFIX !== "" && IMGIX_HOST !== "" && url.hostname === IMGIX_HOST) {
      url.pathname = IMGIX_PREFIX.slice(0, -1) + url.pathname;
    }
    if (url.pathname.startsWith("/-/") && !/^\/-\/(healthz|readyz)$/.test(url.pathname)) {
      return new Response("Not Found", { status: 404 });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method Not Allowed", { status: 405, headers: { Allow: "GET, HEAD" } });
    }
    const cls = acceptClass(request.headers.get("Accept"));
    const key = negotiated(url.pathname, url.searchParams) ? [`imgorigin-accept=${cls}`] : [];
    const headers = new Headers(request.headers);
    headers.set("Accept", ACCEPT_HEADER[cls]);
    headers.delete("Sec-CH-DPR");
    if (CLIENT_HINTS) {
      const step = dprStep(request.headers.get("Sec-CH-DPR"));
      key.push(`imgorigin-dpr=${step}`);
      headers.set("Sec-CH-DPR", step);
    }
    // An imgix query as sent (its signature covers it), less any class parameter of ours.
    const own = imgix(url.pathname) ? url.search.slice(1).split("&") : [];
    url.search = [...own.filter((part) => part && !part.startsWith("imgorigin-")), ...key]
      .join("&");
    headers.delete("Cookie");
    headers.delete("Authorization");
    return fetch(new Request(url.toString(), { method: request.method, headers }));
  },
};
