"""The alert rules (club_operator.monitoring): the file the chart ships is the code's output, every
alert carries what an alert must, names only series the platform exports, and groups only by
bounded labels."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import club_operator.metrics
import club_operator.video_metrics
import club_runtime.api.metrics
import club_runtime.worker.metrics
from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import alerts, rules
from club_runtime.api import state_metrics

_METRIC_MODULES = (
    club_operator.metrics,
    club_operator.video_metrics,
    club_runtime.api.metrics,
    club_runtime.worker.metrics,
)
ROOT = Path(__file__).resolve().parents[3]
ALERTS = rules.alerts(generate.groups())
RECORDED = {r.record for g in generate.groups() for r in g.rules if isinstance(r, rules.Record)}

# Labels a rule may group or match by: one value per club, queue, credential, phase or histogram
# bucket; never an id.
BOUNDED_LABELS = {"namespace", "club", "queue", "credential", "job", "le", "phase"}
PROMETHEUS_OWN = {"up"}
_FUNCTIONS_AND_KEYWORDS = {
    "by", "on", "and", "or", "unless", "without", "ignoring", "group_left", "group_right", "bool",
}  # fmt: skip


def _exported() -> set[str]:
    """Every series name the operator, the API and the workers export."""
    names: set[str] = set()
    for family in REGISTRY.collect():  # _METRIC_MODULES' metrics are registered on import
        suffixes = {
            "counter": ("_total",),
            "histogram": ("_bucket", "_count", "_sum"),
            "summary": ("_count", "_sum"),
        }.get(family.type, ("",))
        names.update(family.name + suffix for suffix in suffixes)
    names.update(state_metrics.NAMES)
    names.add("club_worker_queue_depth")  # QueueDepthCollector, registered by the worker's command
    return names


def _series_names(expr: str) -> set[str]:
    text = re.sub(r'"[^"]*"', "", expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(by|on|without|ignoring)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        following = text[match.end() :].lstrip()
        if following.startswith("(") or match.group() in _FUNCTIONS_AND_KEYWORDS:
            continue
        if re.fullmatch(r"\d+[smhd]", match.group()):
            continue
        names.add(match.group())
    return names


def test_the_charts_rules_file_is_the_codes_output() -> None:
    shipped = (ROOT / generate.DEFAULT_PATH).read_text()
    assert shipped == generate.text(), "run `make monitoring` and commit the file"


def test_the_rendered_yaml_is_the_document() -> None:
    assert yaml.safe_load(generate.text()) == rules.document(generate.groups())


def test_alert_names_are_unique() -> None:
    names = [a.alert for a in ALERTS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.alert)
def test_every_alert_has_a_severity_a_summary_naming_the_club_and_a_runbook(alert: rules.Alert) -> None:
    rule = alert.rule()
    assert rule["labels"]["severity"] in {"critical", "warning"}
    summary = rule["annotations"]["summary"]
    if alert.alert.startswith("ClubOperator"):
        assert "operator" in summary
    else:
        assert "{{ $labels.namespace }}/{{ $labels.club }}" in summary
    assert rule["annotations"]["description"]
    assert rule["annotations"]["runbook_url"] == f"{rules.RUNBOOK_BASE}{alert.alert}.md"


@pytest.mark.parametrize(
    "rule",
    [r for g in generate.groups() for r in g.rules],
    ids=lambda r: getattr(r, "alert", None) or r.record,
)
def test_rules_name_only_exported_series(rule: rules.Alert | rules.Record) -> None:
    unknown = _series_names(rule.expr) - _exported() - RECORDED - PROMETHEUS_OWN
    assert not unknown, f"not exported by the platform: {sorted(unknown)}"


@pytest.mark.parametrize(
    "rule",
    [r for g in generate.groups() for r in g.rules],
    ids=lambda r: getattr(r, "alert", None) or r.record,
)
def test_rules_group_only_by_bounded_labels(rule: rules.Alert | rules.Record) -> None:
    for listed in re.findall(r"\b(?:by|on)\s*\(([^)]*)\)", rule.expr):
        labels = {label.strip() for label in listed.split(",")}
        assert labels <= BOUNDED_LABELS, labels - BOUNDED_LABELS


def test_per_club_alerts_leave_out_suspended_clubs() -> None:
    for alert in ALERTS:
        if "$labels.club" in alert.summary and not alert.alert.startswith("ClubApi"):
            assert "club_operator_club_suspended" in alert.expr, alert.alert


def test_series_names_are_found_in_an_expression() -> None:
    expr = 'max by (namespace, club) (rate(a_total{x="b c"}[5m])) / on (club) b:c:d > 0.5 and up == 0'
    assert _series_names(expr) == {"a_total", "b:c:d", "up"}


def test_the_operator_job_is_the_one_scraped() -> None:
    assert (
        f'up{{job="{alerts.OPERATOR_JOB}"}}' in next(a for a in ALERTS if a.alert == "ClubOperatorDown").expr
    )


RUNBOOK = ROOT / rules.RUNBOOK_DIR


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.alert)
def test_every_runbook_url_resolves_to_a_page_of_the_repository(alert: rules.Alert) -> None:
    assert alert.runbook_url.startswith(rules.RUNBOOK_BASE)
    page = RUNBOOK / alert.runbook_url.removeprefix(rules.RUNBOOK_BASE)
    assert page.is_file(), f"{alert.alert}: no page {page.relative_to(ROOT)}"
    text = page.read_text()
    assert text.startswith(f"# {alert.alert}\n")
    for section in ("## Meaning", "## Diagnose", "## Resolve"):
        assert section in text, f"{page.name} lacks {section}"
    assert f"**Severity:** {alert.severity}." in text


def test_every_page_is_an_alerts() -> None:
    pages = {p.stem for p in RUNBOOK.glob("*.md")} - {"README"}
    assert pages == {a.alert for a in ALERTS}


def test_the_old_runbooks_seven_incidents_each_have_an_alert_and_a_page() -> None:
    index = (RUNBOOK / "README.md").read_text()
    rows = re.findall(r"^\| (\d)\. [^|]+\| (.+) \|$", index, flags=re.MULTILINE)
    assert [number for number, _ in rows] == [str(n) for n in range(1, 8)]
    names = {a.alert for a in ALERTS}
    for number, cell in rows:
        linked = re.findall(r"\[(\w+)\]\((\w+)\.md\)", cell)
        assert linked, f"incident {number} names no alert"
        for alert, page in linked:
            assert alert == page
            assert alert in names
            assert (RUNBOOK / f"{page}.md").is_file()
