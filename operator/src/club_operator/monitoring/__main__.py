"""`python -m club_operator.monitoring [--check] [--root DIR]`: write what the chart ships from this
package: the rules file (charts/club-operator/files/prometheus-rules.yaml) and the Grafana dashboards
(charts/club-operator/files/dashboards/<name>.json), under the repository root (by default the
current folder); with --check, only say whether they are up to date (exit 1 when not)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path, PurePath

from club_operator.monitoring import alerts, rules, slo

DEFAULT_PATH = Path("charts/club-operator/files/prometheus-rules.yaml")


def groups() -> list[rules.Group]:
    """Every rule group the platform ships, in the file's order."""
    return [slo.recording_rules(), slo.alert_rules(), *alerts.groups()]


def text() -> str:
    return rules.render(groups())


def files() -> dict[PurePath, str]:
    """Every file this package writes, by its path in the repository, and its text."""
    # Imported here: the dashboards need grafana-foundation-sdk, a dev dependency, which the rules
    # (read by tests of the operator's image) do not.
    from club_operator.monitoring import dashboards

    return {DEFAULT_PATH: text(), **dashboards.files()}


def stale(root: Path) -> list[PurePath]:
    """The files under `root` that differ from the code's output, or are missing."""
    out = []
    for path, wanted in files().items():
        found = root / path
        if not found.exists() or found.read_text() != wanted:
            out.append(path)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m club_operator.monitoring", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when a file differs from the code")
    parser.add_argument("--root", type=Path, default=Path(), help="the repository's root")
    args = parser.parse_args(argv)
    if args.check:
        found = stale(args.root)
        for path in found:
            print(f"{path} is out of date: run `make monitoring`", file=sys.stderr)
        return 1 if found else 0
    for path, wanted in files().items():
        target = args.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(wanted)
        print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
