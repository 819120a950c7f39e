"""`python -m club_operator.monitoring [--check] [PATH]`: write the rules file (by default the
chart's, charts/club-operator/files/prometheus-rules.yaml); with --check, only say whether it is
up to date (exit 1 when not)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from club_operator.monitoring import alerts, rules, slo

DEFAULT_PATH = Path("charts/club-operator/files/prometheus-rules.yaml")


def groups() -> list[rules.Group]:
    """Every rule group the platform ships, in the file's order."""
    return [slo.recording_rules(), slo.alert_rules(), *alerts.groups()]


def text() -> str:
    return rules.render(groups())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m club_operator.monitoring", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the file differs from the code")
    parser.add_argument("path", nargs="?", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    wanted = text()
    if args.check:
        current = args.path.read_text() if args.path.exists() else None
        if current != wanted:
            print(f"{args.path} is out of date: run `make monitoring`", file=sys.stderr)
            return 1
        return 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_text(wanted)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
