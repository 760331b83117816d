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

# imgix's SDKs take a bare domain: on the hostname given to imgix URLs every path is one, the
# origin's imgix prefix put in front (as the Varnish VCL does).
if (req.http.host ~ "(?i)^imgix\.example\.com(:[0-9]+)?$") {  # EDIT: the imgix hostname
  set req.url = "/imgix" + req.url;  # EDIT: "/" + IMGORIGIN_IMGIX_PREFIX
}

# The origin answers from the path alone, but for imgix URLs (the origin's
# IMGORIGIN_IMGIX_PREFIX), whose query is their options: kept as sent, since an imgix signature
# covers the parameters' order.
unset req.http.Cookie;
unset req.http.Authorization;
if (req.url.path !~ "^/imgix/") {  # EDIT: "^/" + IMGORIGIN_IMGIX_PREFIX + "/"
  set req.url = req.url.path;
}

# Three Accept classes, the origin's own rule (an explicit image/avif or image/webp not refused
# with q=0), so Vary: Accept keeps at most three objects per URL and cannot be poisoned.
if (req.http.Accept ~ "(?i)(^|,)\s*image/avif\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
  set req.http.Accept = "image/avif";
} elsif (req.http.Accept ~ "(?i)(^|,)\s*image/webp\s*(?!;\s*q\s*=\s*0(\.0*)?\s*(,|$))(;|,|$)") {
  set req.http.Accept = "image/webp";
} else {
  set req.http.Accept = "*/*";
}

# Client hints (the origin's IMGORIGIN_CLIENT_HINTS): Sec-CH-DPR rounded up to the origin's
# steps, 1, 1.5, 2, 3 or 4, the Varnish VCL's tested rules; Vary: Sec-CH-DPR then keeps at most
# five objects per URL and Accept class.
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
