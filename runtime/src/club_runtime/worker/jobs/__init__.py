"""Job functions, enqueued by dotted name with ids as arguments (never objects)."""
