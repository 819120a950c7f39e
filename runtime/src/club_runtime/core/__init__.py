"""Cross-cutting pieces of the runtime: security (passwords, tokens) and roles."""
