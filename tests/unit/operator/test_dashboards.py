"""The Grafana dashboards (club_operator.monitoring.dashboards): the JSON the chart ships is the
code's output, Grafana's dashboard model reads it back unchanged, every panel queries the Prometheus
data source, and every query names only series the platform exports and variables the dashboard
defines."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as model

from club_operator.monitoring import __main__ as generate
from club_operator.monitoring import dashboards
from tests.unit.operator.test_monitoring import PROMETHEUS_OWN, _exported, _series_names

ROOT = Path(__file__).resolve().parents[3]
DOCUMENTS = dashboards.documents()
GRAFANA_VARIABLES = {"__rate_interval", "__interval", "__range"}


def _panels(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [p for p in document["panels"] if p["type"] != "row"]


def _queried(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, expression) of every query of the dashboard."""
    return [(p["title"], t["expr"]) for p in _panels(document) for t in p["targets"]]


EVERY_QUERY = [(name, title, expr) for name, doc in DOCUMENTS.items() for title, expr in _queried(doc)]


def test_the_charts_dashboards_are_the_codes_output() -> None:
    for path, wanted in dashboards.files().items():
        assert (ROOT / path).read_text() == wanted, f"{path}: run `make monitoring` and commit it"
    shipped = {p.name for p in (ROOT / dashboards.DIRECTORY).iterdir()}
    assert shipped == {f"{name}.json" for name in dashboards.BUILDERS}


def test_the_check_command_finds_a_stale_or_missing_file(tmp_path: Path) -> None:
    for path, wanted in generate.files().items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(wanted)
    assert generate.main(["--check", "--root", str(tmp_path)]) == 0
    stale = tmp_path / dashboards.DIRECTORY / "fleet.json"
    stale.write_text(stale.read_text().replace("Club fleet", "Old fleet"))
    (tmp_path / dashboards.DIRECTORY / "database.json").unlink()
    assert generate.stale(tmp_path) == [
        dashboards.DIRECTORY / "database.json",
        dashboards.DIRECTORY / "fleet.json",
    ]
    assert generate.main(["--check", "--root", str(tmp_path)]) == 1


@pytest.mark.parametrize("name", DOCUMENTS)
def test_grafanas_dashboard_model_reads_the_json_back_unchanged(name: str) -> None:
    document = DOCUMENTS[name]
    read = model.Dashboard.from_json(document)
    assert json.loads(json.dumps(read, cls=JSONEncoder)) == document
    assert document["uid"]
    assert document["title"]
    assert "club-platform" in document["tags"]


def test_uids_are_unique() -> None:
    uids = [d["uid"] for d in DOCUMENTS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", DOCUMENTS)
def test_panel_ids_are_unique(name: str) -> None:
    ids = [p["id"] for p in DOCUMENTS[name]["panels"]]
    assert len(ids) == len(set(ids)), ids
    assert 0 not in ids


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_panel_queries_the_prometheus_data_source(name: str) -> None:
    document = DOCUMENTS[name]
    variables = {v["name"]: v for v in document["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    source = {"type": "prometheus", "uid": "${datasource}"}
    assert _panels(document)
    for panel in _panels(document):
        assert panel["datasource"] == source, panel["title"]
        assert panel["targets"], f"{panel['title']} has no query"
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == source, panel["title"]
            assert target["expr"].strip(), panel["title"]
            assert target.get("legendFormat"), f"{panel['title']}: a legend names each series"


@pytest.mark.parametrize(("name", "title", "expr"), EVERY_QUERY, ids=lambda v: str(v)[:40])
def test_queries_name_only_exported_series(name: str, title: str, expr: str) -> None:
    unknown = _series_names(expr) - _exported() - PROMETHEUS_OWN
    assert not unknown, f"{name} / {title}: not exported by the platform: {sorted(unknown)}"


@pytest.mark.parametrize(("name", "title", "expr"), EVERY_QUERY, ids=lambda v: str(v)[:40])
def test_queries_use_only_the_dashboards_variables(name: str, title: str, expr: str) -> None:
    defined = {v["name"] for v in DOCUMENTS[name]["templating"]["list"]} | GRAFANA_VARIABLES
    used = set(re.findall(r"\$\{?(\w+)", expr))
    assert used <= defined, f"{name} / {title}: {sorted(used - defined)}"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_club_dashboards_select_one_club_and_the_fleet_every_namespace(name: str) -> None:
    document = DOCUMENTS[name]
    variables = {v["name"]: v for v in document["templating"]["list"]}
    for variable in variables.values():
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((\w+)(\{[^}]*\})?, (\w+)\)", variable["query"])
            assert found, variable["query"]
            assert found.group(1) in _exported()
            assert found.group(3) == variable["name"]
    if name == "fleet":
        assert set(variables) == {"datasource", "namespace"}
        assert variables["namespace"]["includeAll"]
        assert variables["namespace"]["multi"]
        return
    assert set(variables) == {"datasource", "namespace", "club"}
    for title, expr in _queried(document):
        # A series about one club is selected by both labels; operator series of every club say so.
        if "$namespace" in expr or "$club" in expr or "every club" not in _row_of(document, title):
            assert 'namespace="$namespace", club="$club"' in expr, f"{title}: {expr}"


def _row_of(document: dict[str, Any], title: str) -> str:
    """The title of the row the panel is in, with the panel's own title and description."""
    row = ""
    for panel in document["panels"]:
        if panel["type"] == "row":
            row = panel["title"]
        elif panel["title"] == title:
            return f"{row} {title} {panel.get('description', '')}".lower()
    raise KeyError(title)
