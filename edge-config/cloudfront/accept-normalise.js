// CloudFront Function (runtime cloudfront-js-2.0), viewer-request event.
// Reduces Accept to one of three classes before CloudFront computes the cache key, so the
// cache policy (cache-policy.json) can key on Accept without fragmenting: at most three objects
// per negotiated (fmt_auto) URL, one per explicit-format URL. Also drops cookies and query
// strings, which the origin does not read, but on imgix URLs (the origin's
// IMGORIGIN_IMGIX_PREFIX), whose query is their options (their cache behaviour keys on it:
// cache-policy-imgix.json).

// Set to true when the origin runs with IMGORIGIN_DEFAULT_FORMAT=auto (no fmt_ means auto).
var DEFAULT_FORMAT_AUTO = false;
// Set to true when the origin runs with IMGORIGIN_CLIENT_HINTS=true. Sec-CH-DPR is in the cache
// policy's key: rounded up to the origin's steps here, or always 1 while this is false, so it
// keeps at most five objects per URL and Accept class with hints, one without.
var CLIENT_HINTS = false;
// The origin's IMGORIGIN_IMGIX_PREFIX between slashes, or "" when imgix URLs are not served.
var IMGIX_PREFIX = "/imgix/";
// imgix's SDKs take a bare domain: on this hostname (an alternate domain name of the
// distribution) every path is an imgix URL, the prefix put in front here ("" for none).
var IMGIX_HOST = "imgix.example.com";
// imgix's auto=format (one of auto's comma-separated values): AVIF or WebP where the browser
// takes them, whatever `fm` says. The value as sent: a comma may be percent-encoded.
var IMGIX_AUTO_FORMAT = /(^|,|%2C)format(,|%2C|$)/i;
// Sec-CH-DPR rounded up to the origin's steps (transforms/hints.py); missing or malformed is 1.
var DPR_STEPS = [
    [/^\s*0*(\.\d*)?\s*$/, "1"],
    [/^\s*0*1(\.0*)?\s*$/, "1"],
    [/^\s*0*1\.(0+[1-9]\d*|[1-4]\d*|50*)\s*$/, "1.5"],
    [/^\s*0*(1\.\d+|2(\.0*)?)\s*$/, "2"],
    [/^\s*0*(2\.\d+|3(\.0*)?)\s*$/, "3"],
    [/^\s*\d+(\.\d*)?\s*$/, "4"]
];

function dprStep(value) {
    for (var i = 0; i < DPR_STEPS.length; i++) {
        if (DPR_STEPS[i][0].test(value)) {
            return DPR_STEPS[i][1];
        }
    }
    return "1";
}

var AVIF = /(^|,)\s*image\/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
var WEBP = /(^|,)\s*image\/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
var EXPLICIT = /(^|[/,])(fmt|f|format)_(jpeg|jpg|png|webp|avif|gif|original)(,|\/)/;
var AUTO = /(^|[/,])(fmt|f|format)_auto(,|\/)/;

function handler(event) {
    var request = event.request;
    var host = request.headers.host ? request.headers.host.value.toLowerCase() : "";
    if (IMGIX_PREFIX !== "" && IMGIX_HOST !== "" && host === IMGIX_HOST) {
        request.uri = IMGIX_PREFIX.slice(0, -1) + request.uri;
    }
    var accept = request.headers.accept ? request.headers.accept.value : "";
    var imgix = IMGIX_PREFIX !== "" && request.uri.indexOf(IMGIX_PREFIX) === 0;
    var negotiated;
    if (imgix) {
        var auto = request.querystring.auto;
        negotiated = !!auto && IMGIX_AUTO_FORMAT.test(auto.value);
    } else {
        negotiated = AUTO.test(request.uri) || (DEFAULT_FORMAT_AUTO && !EXPLICIT.test(request.uri));
    }
    var value = "*/*";
    if (negotiated && AVIF.test(accept)) {
        value = "image/avif";
    } else if (negotiated && WEBP.test(accept)) {
        value = "image/webp";
    }
    request.headers.accept = { value: value };
    var dpr = request.headers["sec-ch-dpr"] ? request.headers["sec-ch-dpr"].value : "";
    request.headers["sec-ch-dpr"] = { value: CLIENT_HINTS ? dprStep(dpr) : "1" };
    request.cookies = {};
    if (!imgix) {
        request.querystring = {};
    }
    return request;
}
