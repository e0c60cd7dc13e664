"""Photos: evidence bytes (content-addressed blobs), resumable uploads, photo records."""
