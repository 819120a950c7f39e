"""The local stack: real PostgreSQL, Redis, MinIO, ffmpeg and a Kubernetes control plane as processes."""
