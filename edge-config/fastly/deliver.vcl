# Fastly VCL snippet, type "deliver" (vcl_deliver). Fastly already strips Surrogate-Key and
# Surrogate-Control from client responses; drop the other edge-only headers at the edge node
# (not on a shield, whose Fastly-to-Fastly responses still need them).
if (fastly.ff.visits_this_service == 0) {
  unset resp.http.Cache-Tag;
  unset resp.http.CDN-Cache-Control;
}
