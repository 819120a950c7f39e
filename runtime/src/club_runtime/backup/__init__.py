"""Backups of one club's rows: `snapshot` takes one (a consistent COPY of every tenant table, gzip,
multipart upload, manifest last), `verify` restores it into a scratch database and checks it,
`restore` puts it back into the club or into a new one. `cli` is the `club-runtime` commands."""
