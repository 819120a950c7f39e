"""The Helm chart's CRD templates (charts/club-operator/templates/crds/), generated from crds/.

crds/ is the one source of the CustomResourceDefinitions. Helm installs what a chart keeps in its
crds/ folder once and never upgrades it, so the chart carries them as templates instead: each file
is the source's text unchanged, with a `helm.sh/resource-policy: keep` annotation (so that
`helm uninstall` leaves the CRDs, and with them every Club, in place) and the chart's labels put in
its metadata, inside a `crds.install` switch. `render` is pure; `python -m club_devstack.chart_crds`
rewrites the templates, and tests/unit/devstack/test_chart_crds.py fails when they drift from crds/.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SOURCE_DIR = REPO / "crds"
TEMPLATE_DIR = REPO / "charts" / "club-operator" / "templates" / "crds"

_HEADER = (
    "# Generated from crds/{name} by `python -m club_devstack.chart_crds`: edit the source, not this file.\n"
    "{{{{- if .Values.crds.install }}}}\n"
)
_FOOTER = "{{- end }}\n"
# Helm's keep policy: uninstall and a failed install's rollback leave the CRD (and every object of
# its kind) alone; an upgrade still updates it.
_METADATA = (
    "  annotations:\n"
    "    helm.sh/resource-policy: keep\n"
    "  labels:\n"
    '    {{- include "club-operator.labels" $ | nindent 4 }}\n'
)


def render(name: str, source: str) -> str:
    """The chart template for the CRD file `name` whose text is `source`."""
    lines = source.splitlines(keepends=True)
    try:
        start = lines.index("metadata:\n")
    except ValueError:
        raise ValueError(f"crds/{name}: no top-level 'metadata:' line") from None
    name_line = start + 1
    if not lines[name_line].startswith("  name: ") or lines[name_line + 1].startswith("  "):
        raise ValueError(f"crds/{name}: its metadata must hold only its name (the chart adds the rest)")
    if "{{" in source:
        raise ValueError(f"crds/{name}: '{{{{' would be read by Helm as a template action")
    body = [*lines[: name_line + 1], _METADATA, *lines[name_line + 1 :]]
    return _HEADER.format(name=name) + "".join(body) + _FOOTER


def expected(source_dir: Path = SOURCE_DIR) -> dict[str, str]:
    """Every template the chart should hold, by file name."""
    return {path.name: render(path.name, path.read_text()) for path in sorted(source_dir.glob("*.yaml"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="club_devstack.chart_crds", description=__doc__)
    parser.add_argument("--check", action="store_true", help="only report templates that differ")
    args = parser.parse_args(argv)
    wanted = expected()
    present = {path.name for path in TEMPLATE_DIR.glob("*.yaml")}
    stale = sorted(
        name
        for name, text in wanted.items()
        if not (TEMPLATE_DIR / name).exists() or (TEMPLATE_DIR / name).read_text() != text
    ) + sorted(present - set(wanted))
    if args.check:
        for name in stale:
            print(f"charts/club-operator/templates/crds/{name} is out of date with crds/", file=sys.stderr)
        return 1 if stale else 0
    TEMPLATE_DIR.mkdir(parents=True, exist_ok=True)
    for name in present - set(wanted):
        (TEMPLATE_DIR / name).unlink()
    for name, text in wanted.items():
        (TEMPLATE_DIR / name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
