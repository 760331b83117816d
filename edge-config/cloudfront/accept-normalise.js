// CloudFront Function (runtime cloudfront-js-2.0), viewer-request event.
// Reduces Accept to one of three classes before CloudFront computes the cache key, so the
// cache policy (cache-policy.json) can key on Accept without fragmenting: at most three objects
// per negotiated (fmt_auto) URL, one per explicit-format URL. Also drops cookies and query
// strings, which the origin does not read.

// Set to true when the origin runs with IMGORIGIN_DEFAULT_FORMAT=auto (no fmt_ means auto).
var DEFAULT_FORMAT_AUTO = false;

var AVIF = /(^|,)\s*image\/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
var WEBP = /(^|,)\s*image\/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)/i;
var EXPLICIT = /(^|[/,])(fmt|f|format)_(jpeg|jpg|png|webp|avif|gif|original)(,|\/)/;
var AUTO = /(^|[/,])(fmt|f|format)_auto(,|\/)/;

function handler(event) {
    var request = event.request;
    var accept = request.headers.accept ? request.headers.accept.value : "";
    var negotiated = AUTO.test(request.uri) || (DEFAULT_FORMAT_AUTO && !EXPLICIT.test(request.uri));
    var value = "*/*";
    if (negotiated && AVIF.test(accept)) {
        value = "image/avif";
    } else if (negotiated && WEBP.test(accept)) {
        value = "image/webp";
    }
    request.headers.accept = { value: value };
    request.cookies = {};
    request.querystring = {};
    return request;
}
