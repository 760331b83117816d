# Fastly VCL snippet, type "recv" (vcl_recv). Upload as a regular (versioned) snippet; see
# edge-config/README.md. Fastly honours the origin's Surrogate-Control, Surrogate-Key and
# Vary: Accept natively; this snippet only makes the request cacheable and bounded.

# Operations endpoints: health passes through, the rest stays off the edge.
if (req.url.path ~ "^/-/") {
  if (req.url.path ~ "^/-/(healthz|readyz)$") {
    return(pass);
  }
  error 404 "Not Found";
}

# The origin answers from the path alone.
unset req.http.Cookie;
unset req.http.Authorization;
set req.url = req.url.path;

# Three Accept classes, the origin's own rule (an explicit image/avif or image/webp not refused
# with q=0), so Vary: Accept keeps at most three objects per URL and cannot be poisoned.
if (req.http.Accept ~ "(?i)(^|,)\s*image/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
  set req.http.Accept = "image/avif";
} elsif (req.http.Accept ~ "(?i)(^|,)\s*image/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
  set req.http.Accept = "image/webp";
} else {
  set req.http.Accept = "*/*";
}
