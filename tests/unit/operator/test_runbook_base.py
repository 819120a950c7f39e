"""The chart's PrometheusRule replaces the runbook base the rules are generated with
(rules.RUNBOOK_BASE) by prometheusRule.runbookBaseUrl: the template's text to replace, the value's
default and the generated file must agree, or an alert would keep a link ops did not set."""

from __future__ import annotations

from pathlib import Path

import yaml

from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import rules

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "club-operator"


def test_the_template_replaces_the_base_the_rules_are_generated_with() -> None:
    template = (CHART / "templates" / "prometheusrule.yaml").read_text()
    assert f'$generated := "runbook_url: {rules.RUNBOOK_BASE}"' in template


def test_the_values_default_is_the_generated_base() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["prometheusRule"]["runbookBaseUrl"] == rules.RUNBOOK_BASE


def test_every_alert_of_the_rules_file_links_with_the_text_the_template_replaces() -> None:
    text = generate.text()
    count = len(rules.alerts(generate.groups()))
    assert count > 0
    assert text.count(f"runbook_url: {rules.RUNBOOK_BASE}") == count
    assert text.count("runbook_url:") == count
