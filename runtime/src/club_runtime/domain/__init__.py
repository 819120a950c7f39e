"""Pure domain rules of the platform (no I/O, no clock): load metrics and alerts."""
