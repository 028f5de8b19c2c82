"""Where outputs come from: presigned HTTPS links and objects in the team's S3 buckets."""
