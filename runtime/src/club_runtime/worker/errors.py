"""Errors of worker jobs that decide what happens next."""

from __future__ import annotations


class PermanentJobError(Exception):
    """The job can never succeed (bad input, unknown video): fail it now, do not retry."""
