"""The chart's PrometheusRule (`helm template`, no cluster needed): every alert's runbook_url follows
prometheusRule.runbookBaseUrl, which the values' schema keeps to a URL that stays one plain YAML
scalar once put in the rules' text."""

from __future__ import annotations

from typing import Any

import pytest

from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import rules
from tests.support import helm

BASE = "https://git.example/ops/club-platform/-/blob/main/docs/runbook/"


def _alerts(values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (rule,) = [o for o in helm.objects(helm.render(values)) if o["kind"] == "PrometheusRule"]
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}


def test_a_runbook_base_url_set_is_in_every_runbook_url() -> None:
    found = _alerts({"prometheusRule": {"enabled": True, "runbookBaseUrl": BASE}})
    names = {a.alert for a in rules.alerts(generate.groups())}
    assert set(found) == names
    assert {name: r["annotations"]["runbook_url"] for name, r in found.items()} == {
        name: f"{BASE}{name}.md" for name in names
    }
    # Nothing else of the rules changed: the expressions are the generated file's.
    generated = {a.alert: a.expr for a in rules.alerts(generate.groups())}
    assert {name: r["expr"] for name, r in found.items()} == generated


def test_by_default_the_runbook_urls_are_the_generated_ones() -> None:
    found = _alerts({"prometheusRule": {"enabled": True}})
    assert {r["annotations"]["runbook_url"] for r in found.values()} == {
        a.runbook_url for a in rules.alerts(generate.groups())
    }


@pytest.mark.parametrize("url", ["ftp://runbooks.example/", "https://wiki.example/club runbooks/", ""])
def test_a_runbook_base_url_that_is_not_one_plain_url_is_refused(url: str) -> None:
    with pytest.raises(RuntimeError, match="runbookBaseUrl"):
        helm.render({"prometheusRule": {"enabled": True, "runbookBaseUrl": url}})
