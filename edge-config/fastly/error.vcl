# Fastly VCL snippet, type "error" (vcl_error): the origin is unreachable; serve stale if any.
if (obj.status >= 500 && stale.exists) {
  return(deliver_stale);
}
