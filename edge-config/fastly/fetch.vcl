# Fastly VCL snippet, type "fetch" (vcl_fetch).
# TTL, stale-while-revalidate and stale-if-error come from the origin's Surrogate-Control, which
# Fastly reads natively. Here: never cache a cookie, and keep serving a stale copy when the
# origin fails (stale-if-error) instead of caching or passing on its error.
unset beresp.http.Set-Cookie;
if (beresp.status >= 500 && stale.exists) {
  return(deliver_stale);
}
