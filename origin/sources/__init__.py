"""Where source images come from: a local directory, an HTTP(S) base or an S3 bucket, and
allowlisted URLs. Import the modules themselves (`origin.sources.store`, ...): the package
imports nothing, so settings can read `origin.sources.s3` before metrics are set up."""
