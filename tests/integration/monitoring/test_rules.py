"""The alert rules the chart ships, checked by Prometheus's own promtool: the file parses
(`promtool check rules`), and the unit tests of tests/monitoring/ pass (`promtool test rules`),
where every alert has a case in which it fires and one in which it stays silent."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from club_devstack import tools
from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import rules

ROOT = Path(__file__).resolve().parents[3]
RULES_FILE = ROOT / generate.DEFAULT_PATH
TEST_FILES = sorted((ROOT / "tests" / "monitoring").glob("*.test.yaml"))


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tools.system_binary("promtool")), *args], capture_output=True, text=True, check=False
    )


def test_promtool_checks_the_rules_file() -> None:
    run = _promtool("check", "rules", str(RULES_FILE))
    assert run.returncode == 0, run.stdout + run.stderr
    count = sum(len(g.rules) for g in generate.groups())
    assert f"SUCCESS: {count} rules found" in run.stdout


def test_promtool_unit_tests_pass() -> None:
    assert TEST_FILES
    run = _promtool("test", "rules", *map(str, TEST_FILES))
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("SUCCESS") == len(TEST_FILES)


def test_every_alert_has_a_case_that_fires_and_one_that_stays_silent() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in TEST_FILES:
        document = yaml.safe_load(path.read_text())
        assert document["rule_files"] == [str(Path("../..") / generate.DEFAULT_PATH)], path.name
        for case in document["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {a.alert for a in rules.alerts(generate.groups())}
    assert names - fires == set(), "alerts no test sees firing"
    assert names - silent == set(), "alerts no test sees silent"


def test_promtool_fails_a_test_whose_alert_does_not_fire(tmp_path: Path) -> None:
    """The unit tests can fail: a case expecting an alert that healthy series do not raise."""
    case = {
        "rule_files": [str(RULES_FILE)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": 'club_operator_club_ready{namespace="ns", club="fc"}', "values": "1x30"}
                ],
                "alert_rule_test": [
                    {"eval_time": "20m", "alertname": "ClubNotReady", "exp_alerts": [{"exp_labels": {}}]}
                ],
            }
        ],
    }
    path = tmp_path / "wrong.test.yaml"
    path.write_text(yaml.safe_dump(case))
    run = _promtool("test", "rules", str(path))
    assert run.returncode != 0
    assert "FAILED" in run.stdout + run.stderr
