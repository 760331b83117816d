# imgorigin behind Varnish 7 (Debian: packages varnish + varnish-modules).
#
# What this VCL does, in order of the request:
#   * PURGE with an `xkey` header (space-separated Surrogate-Key values) removes every object
#     carrying one of those keys; only from the `imgorigin_purgers` ACL. imgorigin's
#     POST /-/purge sends these when IMGORIGIN_CDN_PURGERS names this Varnish. With
#     `xkey-soft: 1` (a purge with "soft": true) the objects are kept as stale copies instead.
#   * Accept is normalised to one of three values (image/avif, image/webp, */*) before the
#     lookup, so `Vary: Accept` keeps at most three objects per URL and an object fetched for
#     one class can only be stored under, and served to, that class.
#   * Cookies and query strings are dropped from image requests: the origin reads neither,
#     except the query of an imgix URL (the origin's IMGORIGIN_IMGIX_PREFIX), which holds its
#     options: it is kept as sent (an imgix signature covers the order of the parameters).
#   * TTL comes from Surrogate-Control max-age (the edge lifetime), else Cache-Control.
#     Objects are kept past their TTL for max(stale-while-revalidate, stale-if-error):
#     inside stale-while-revalidate they are served while a background fetch refreshes them;
#     beyond it, only while the origin's health probe fails (stale-if-error).
#   * /-/purge and /-/metrics are not reachable through the edge; call the origin directly.
#
# Operators edit the lines marked EDIT (the origin's address, the imgix prefix) and the ACL.

vcl 4.1;

import std;
import xkey;

backend imgorigin {
    .host = "127.0.0.1";  # EDIT: origin host
    .port = "8080";       # EDIT: origin port
    .connect_timeout = 3s;
    # Longer than the origin's own IMGORIGIN_REQUEST_TIMEOUT (30 s): the origin answers first.
    .first_byte_timeout = 35s;
    .between_bytes_timeout = 10s;
    .probe = {
        .url = "/-/readyz";
        .interval = 1s;
        .timeout = 1s;
        .window = 3;
        .threshold = 2;
        .initial = 2;
    }
}

# Who may send PURGE: the origin's addresses (every host running imgorigin).
acl imgorigin_purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    # Internal flag set by vcl_hit below; never trust it from a client.
    if (req.restarts == 0) {
        unset req.http.x-imgorigin-refresh;
        unset req.http.x-imgorigin-fallback;
    }

    if (req.method == "PURGE") {
        if (client.ip !~ imgorigin_purgers) {
            return (synth(403, "Forbidden"));
        }
        if (!req.http.xkey) {
            return (synth(400, "PURGE needs an xkey header"));
        }
        if (req.http.xkey-soft == "1") {
            # Soft: the objects expire now but keep their grace, so the next request is served
            # the stale copy while Varnish revalidates it in the background (vcl_hit).
            set req.http.x-imgorigin-gone = xkey.softpurge(req.http.xkey);
        } else {
            set req.http.x-imgorigin-gone = xkey.purge(req.http.xkey);
        }
        return (synth(200, "Purged"));
    }

    if (req.url ~ "^/-/") {
        if (req.url ~ "^/-/(healthz|readyz)(\?|$)") {
            return (pass);
        }
        return (synth(404, "Not Found"));
    }

    if (req.method != "GET" && req.method != "HEAD") {
        return (synth(405, "Method Not Allowed"));
    }

    # imgix's SDKs take a bare domain: on the hostname given to imgix URLs every path is one,
    # the origin's imgix prefix put in front here, before the cache key (the prefix is not part
    # of what imgix signs).
    if (req.http.host ~ "(?i)^imgix\.example\.com(:[0-9]+)?$") {  # EDIT: the imgix hostname
        set req.url = "/imgix" + req.url;  # EDIT: "/" + IMGORIGIN_IMGIX_PREFIX
    }

    # The origin answers from the path alone: cookies, credentials and query strings would only
    # fragment the cache (or make Varnish pass). imgix URLs are the exception: their query is
    # the options, and stays in the URL (the cache key) as the client sent it.
    unset req.http.Cookie;
    unset req.http.Authorization;
    if (req.url !~ "^/imgix/") {  # EDIT: "^/" + IMGORIGIN_IMGIX_PREFIX + "/"; unused without it
        set req.url = regsub(req.url, "\?.*$", "");
    }

    # Three Accept classes, matching the origin's negotiation: an explicit image/avif or
    # image/webp that is not refused with q=0; everything else is the legacy class.
    if (req.http.Accept ~ "(?i)(^|,)\s*image/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
        set req.http.Accept = "image/avif";
    } elsif (req.http.Accept ~ "(?i)(^|,)\s*image/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
        set req.http.Accept = "image/webp";
    } else {
        set req.http.Accept = "*/*";
    }

    # Client hints (the origin's IMGORIGIN_CLIENT_HINTS): Sec-CH-DPR rounded up to the origin's
    # steps, 1, 1.5, 2, 3 or 4 (transforms/hints.py); missing or malformed is 1. Vary: Sec-CH-DPR
    # then keeps at most five objects per URL and Accept class, whatever the devices report.
    if (req.http.Sec-CH-DPR ~ "^\s*0*(\.\d*)?\s*$" || req.http.Sec-CH-DPR ~ "^\s*0*1(\.0*)?\s*$") {
        set req.http.Sec-CH-DPR = "1";
    } elsif (req.http.Sec-CH-DPR ~ "^\s*0*1\.(0+[1-9]\d*|[1-4]\d*|50*)\s*$") {
        set req.http.Sec-CH-DPR = "1.5";
    } elsif (req.http.Sec-CH-DPR ~ "^\s*0*(1\.\d+|2(\.0*)?)\s*$") {
        set req.http.Sec-CH-DPR = "2";
    } elsif (req.http.Sec-CH-DPR ~ "^\s*0*(2\.\d+|3(\.0*)?)\s*$") {
        set req.http.Sec-CH-DPR = "3";
    } elsif (req.http.Sec-CH-DPR ~ "^\s*\d+(\.\d*)?\s*$") {
        set req.http.Sec-CH-DPR = "4";
    } else {
        set req.http.Sec-CH-DPR = "1";
    }

    if (req.http.x-imgorigin-fallback) {
        # Restarted from vcl_synth after a failed refresh: the object's own grace applies again
        # (req.grace survives restarts; the lookup uses the smaller of the two).
        set req.grace = 3650d;
    } elsif (req.http.x-imgorigin-refresh) {
        # Restarted from vcl_hit: the object is past stale-while-revalidate and the origin is
        # up, so fetch a fresh copy in the foreground.
        set req.grace = 0s;
    }
    return (hash);
}

sub vcl_hit {
    if (obj.ttl >= 0s) {
        return (deliver);
    }
    set req.http.x-imgorigin-stale = "1";
    # Inside stale-while-revalidate: deliver; Varnish refreshes the object in the background.
    if (obj.ttl + std.duration(obj.http.x-imgorigin-swr, 0s) > 0s) {
        return (deliver);
    }
    # Beyond it, a stale copy is only better than an error: serve it while the origin is down
    # (probe failing), or when the foreground refresh just failed (stale-if-error).
    if (!std.healthy(req.backend_hint) || req.http.x-imgorigin-fallback) {
        return (deliver);
    }
    set req.http.x-imgorigin-refresh = "1";
    return (restart);
}

sub vcl_backend_response {
    # A failed background refresh must not replace the stale copy we still have.
    if (beresp.status >= 500 && (bereq.is_bgfetch || bereq.http.x-imgorigin-refresh)) {
        return (abandon);
    }
    unset beresp.http.Set-Cookie;

    # The edge lifetime: Surrogate-Control wins over Cache-Control (which Varnish already
    # parsed into beresp.ttl); errors the origin marks no-store carry neither max-age.
    set bereq.http.x-imgorigin-cc = beresp.http.Cache-Control;
    if (beresp.http.Surrogate-Control) {
        set bereq.http.x-imgorigin-cc = beresp.http.Surrogate-Control;
    }
    if (bereq.http.x-imgorigin-cc ~ "(?i)(^|[ ,])max-age\s*=\s*\d+") {
        set beresp.ttl = std.duration(regsub(bereq.http.x-imgorigin-cc,
            "(?i)^(?:.*[ ,])?max-age\s*=\s*(\d+).*$", "\1s"), beresp.ttl);
    }
    set beresp.http.x-imgorigin-swr = "0s";
    if (bereq.http.x-imgorigin-cc ~ "(?i)stale-while-revalidate\s*=\s*\d+") {
        set beresp.http.x-imgorigin-swr = regsub(bereq.http.x-imgorigin-cc,
            "(?i)^.*stale-while-revalidate\s*=\s*(\d+).*$", "\1s");
    }
    set beresp.grace = std.duration(beresp.http.x-imgorigin-swr, 0s);
    if (bereq.http.x-imgorigin-cc ~ "(?i)stale-if-error\s*=\s*\d+") {
        if (std.duration(regsub(bereq.http.x-imgorigin-cc,
                "(?i)^.*stale-if-error\s*=\s*(\d+).*$", "\1s"), 0s) > beresp.grace) {
            set beresp.grace = std.duration(regsub(bereq.http.x-imgorigin-cc,
                "(?i)^.*stale-if-error\s*=\s*(\d+).*$", "\1s"), 0s);
        }
    }
    unset bereq.http.x-imgorigin-cc;

    # xkey indexes objects by the `xkey` header: copy the origin's Surrogate-Key into it.
    if (beresp.http.Surrogate-Key) {
        set beresp.http.xkey = beresp.http.Surrogate-Key;
    }
    # No return: the built-in vcl_backend_response still makes no-store, private, Set-Cookie
    # and zero-TTL answers uncacheable.
}

sub vcl_backend_error {
    # Abandoning leaves the stale copy in place; a refresh then falls back to it (vcl_synth).
    if (bereq.is_bgfetch || bereq.http.x-imgorigin-refresh) {
        return (abandon);
    }
}

sub vcl_deliver {
    if (obj.hits > 0) {
        set resp.http.X-Cache = "HIT";
        if (req.http.x-imgorigin-stale) {
            set resp.http.X-Cache = "HIT-STALE";
        }
    } else {
        set resp.http.X-Cache = "MISS";
    }
    # Edge-only headers: the browser gets Cache-Control and nothing meant for surrogates.
    unset resp.http.xkey;
    unset resp.http.x-imgorigin-swr;
    unset resp.http.Surrogate-Control;
    unset resp.http.Surrogate-Key;
    unset resp.http.Cache-Tag;
    unset resp.http.CDN-Cache-Control;
    unset resp.http.Via;
}

sub vcl_synth {
    # The foreground refresh of a stale object failed: serve the stale copy instead.
    if (resp.status == 503 && req.http.x-imgorigin-refresh && !req.http.x-imgorigin-fallback) {
        set req.http.x-imgorigin-fallback = "1";
        return (restart);
    }
    if (req.method == "PURGE" && resp.status == 200) {
        set resp.http.X-Purged = req.http.x-imgorigin-gone;
        set resp.http.Content-Type = "application/json";
        set resp.body = {"{"purged": "} + req.http.x-imgorigin-gone + "}";
        return (deliver);
    }
}
