"""The pieces every dashboard is built from, on grafana-foundation-sdk's builders: the Prometheus
data source (a variable, so that one JSON fits any Grafana), the namespace and club variables, panels
with their queries, and the layout (rows of panels, ids numbered in order).

Queries are PromQL with Grafana's variables: `$namespace`, `$club` and `$__rate_interval`. A ratio
whose bad events may have no series yet (no 5xx since the pod started) is written `bad or 0 * all`,
so that it reads 0 rather than nothing while there is traffic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.models import common as common_model
from grafana_foundation_sdk.models import dashboard as model

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
CLUB = 'namespace="$namespace", club="$club"'
"""The selector of one club's series (its pods' and the operator's series about it)."""
NAMESPACES = 'namespace=~"$namespace"'
"""The selector of the fleet view: one namespace, several, or all."""
CLUB_SERIES = "club_operator_club_ready"
"""A series every reconciled Club has: the variables list its namespaces and clubs."""
TAGS = ["club-platform"]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def ratio(bad: str, every: str, by: str = "") -> str:
    """PromQL of sum(bad) / sum(every), 0 rather than nothing while `bad` has no series."""
    grouping = f"by ({by}) " if by else ""
    return f"(\n  sum {grouping}({bad})\n  or\n  0 * sum {grouping}({every})\n)\n/\nsum {grouping}({every})"


def _target(query: Query, ref: str) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref).datasource(DATASOURCE)
    if query.legend:
        target = target.legend_format(query.legend)
    return target


def _refs(count: int) -> list[str]:
    return [chr(ord("A") + n) for n in range(count)]


def graph(title: str, description: str, unit: str, *queries: Query, width: int = 12) -> timeseries.Panel:
    """A time series panel."""
    panel = timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
    panel = panel.unit(unit).height(8).span(width).fill_opacity(10).span_nulls(False)
    panel = panel.legend(
        common.VizLegendOptions()
        .display_mode(common_model.LegendDisplayMode.TABLE)
        .placement(common_model.LegendPlacement.BOTTOM)
        .show_legend(True)
        .calcs(["lastNotNull", "max"])
    )
    panel = panel.tooltip(
        common.VizTooltipOptions()
        .mode(common_model.TooltipDisplayMode.MULTI)
        .sort(common_model.SortOrder.DESCENDING)
    )
    for query, ref in zip(queries, _refs(len(queries)), strict=True):
        panel = panel.with_target(_target(query, ref))
    return panel


def single(title: str, description: str, unit: str, *queries: Query, width: int = 6) -> stat.Panel:
    """A stat panel: the latest value of each query."""
    panel = stat.Panel().title(title).description(description).datasource(DATASOURCE)
    panel = panel.unit(unit).height(5).span(width)
    panel = panel.reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    for query, ref in zip(queries, _refs(len(queries)), strict=True):
        panel = panel.with_target(_target(query, ref))
    return panel


Panel = timeseries.Panel | stat.Panel


@dataclass(frozen=True)
class Row:
    title: str
    panels: Sequence[Panel]


def _datasource_variable() -> dashboard.DatasourceVariable:
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def club_variables() -> list[Builder[model.VariableModel]]:
    """Data source, then one namespace and one club in it."""
    refresh = model.VariableRefresh.ON_TIME_RANGE_CHANGED
    namespace = (
        dashboard.QueryVariable("namespace")
        .label("Namespace")
        .datasource(DATASOURCE)
        .query(f"label_values({CLUB_SERIES}, namespace)")
        .refresh(refresh)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    club = (
        dashboard.QueryVariable("club")
        .label("Club")
        .datasource(DATASOURCE)
        .query(f'label_values({CLUB_SERIES}{{namespace="$namespace"}}, club)')
        .refresh(refresh)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    return [_datasource_variable(), namespace, club]


def fleet_variables() -> list[Builder[model.VariableModel]]:
    """Data source, then any namespaces (all by default)."""
    namespace = (
        dashboard.QueryVariable("namespace")
        .label("Namespace")
        .datasource(DATASOURCE)
        .query(f"label_values({CLUB_SERIES}, namespace)")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
    )
    return [_datasource_variable(), namespace]


def board(
    uid: str,
    title: str,
    description: str,
    variables: list[Builder[model.VariableModel]],
    rows: Sequence[Row],
) -> dashboard.Dashboard:
    """A dashboard of rows of panels, every row and panel numbered in order from 1."""
    built = (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    for variable in variables:
        built = built.with_variable(variable)
    number = 0
    for row in rows:
        number += 1
        built = built.with_row(dashboard.Row(row.title).id(number))
        for panel in row.panels:
            number += 1
            built = built.with_panel(panel.id(number))
    return built
