"""Database access: the connection pool, migrations, and the tenancy (roles and row-level security)."""
