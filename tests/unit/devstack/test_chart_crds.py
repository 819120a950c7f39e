"""The chart's CRD templates are crds/ itself, with Helm's keep policy and the chart's labels added:
one source, so a CRD change reaches `helm upgrade` (python -m club_devstack.chart_crds rewrites them)."""

from __future__ import annotations

import pytest

from club_devstack import chart_crds


def test_the_chart_templates_are_generated_from_crds() -> None:
    wanted = chart_crds.expected()
    kinds = ("clubs", "videojobs", "clubbackups", "clubrestores")
    assert set(wanted) == {f"{kind}.footballclub.io.yaml" for kind in kinds}
    present = {path.name: path.read_text() for path in chart_crds.TEMPLATE_DIR.glob("*.yaml")}
    stale = sorted(name for name in wanted.keys() | present.keys() if wanted.get(name) != present.get(name))
    assert not stale, f"run `make chart-crds`: {stale} differ from crds/"


SOURCE = (
    "# A kind.\n"
    "apiVersion: apiextensions.k8s.io/v1\n"
    "kind: CustomResourceDefinition\n"
    "metadata:\n"
    "  name: things.example.io\n"
    "spec:\n"
    "  group: example.io\n"
)


def test_render_keeps_the_source_and_adds_the_keep_policy_inside_the_switch() -> None:
    text = chart_crds.render("things.example.io.yaml", SOURCE)
    lines = text.splitlines(keepends=True)
    assert lines[1] == "{{- if .Values.crds.install }}\n"
    assert lines[-1] == "{{- end }}\n"
    assert "    helm.sh/resource-policy: keep\n" in lines
    added = {"  annotations:\n", "    helm.sh/resource-policy: keep\n", "  labels:\n",
             '    {{- include "club-operator.labels" $ | nindent 4 }}\n'}  # fmt: skip
    assert "".join(line for line in lines[2:-1] if line not in added) == SOURCE


@pytest.mark.parametrize(
    ("source", "problem"),
    [
        (SOURCE.replace("metadata:\n", "meta:\n"), "no top-level 'metadata:'"),
        (
            SOURCE.replace("  name: things.example.io\n", "  name: things.example.io\n  labels: {a: b}\n"),
            "only its name",
        ),
        (SOURCE.replace("# A kind.", "# A {{ kind }}."), "template action"),
    ],
)
def test_render_refuses_what_it_cannot_carry_unchanged(source: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        chart_crds.render("things.example.io.yaml", source)
