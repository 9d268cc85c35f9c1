"""deploy/monitoring: the Grafana dashboard loads, and every query names a metric the bot exports.

The exported names are read from the code on every run, so the check stays true as metrics are
added or renamed: each prometheus_client metric or metric family constructed anywhere in bot/
(`Counter("bot_…", …)`, `GaugeMetricFamily("bot_…", …)`, …) gives the series names Prometheus
will store (a counter `x` → `x_total`, a histogram → `x_bucket`, `x_sum`, `x_count`, …). That
reading is cross-checked against what a live app's registry really exposes. Every PromQL
expression, in the dashboard's panels and variables and in the alert rules, is parsed by a real
PromQL parser (`promql-parser`, the test extra) and each metric it selects must be among them.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from deploykit import DEPLOY, ROOT, load_yaml

MONITORING = DEPLOY / "monitoring"
DASHBOARD = MONITORING / "grafana-dashboard.json"
ALERTS = MONITORING / "alerts.yaml"

PROMETHEUS_OWN = {"up", "scrape_duration_seconds", "scrape_samples_scraped", "ALERTS", "ALERTS_FOR_STATE"}
"""Series Prometheus itself writes for every target or alert; the only non-bot names allowed."""

# prometheus_client type → the suffixes of the series a metric of that type is exposed as.
SERIES = {
    "counter": ("_total", "_created"), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"), "info": ("_info",), "stateset": ("",),
    "gaugehistogram": ("_bucket", "_gsum", "_gcount"), "unknown": ("",),
}
CONSTRUCTORS = {
    "Counter": "counter", "Gauge": "gauge", "Histogram": "histogram", "Summary": "summary", "Info": "info",
    "Enum": "stateset", "CounterMetricFamily": "counter", "GaugeMetricFamily": "gauge",
    "HistogramMetricFamily": "histogram", "SummaryMetricFamily": "summary", "InfoMetricFamily": "info",
    "StateSetMetricFamily": "stateset", "GaugeHistogramMetricFamily": "gaugehistogram",
    "UnknownMetricFamily": "unknown",
}


def _string(node: ast.expr | None, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return constants.get(node.id)
    return None


def declared_metrics() -> tuple[dict[str, str], list[str]]:
    """{family name: type} of every metric constructed in bot/, and the places whose name can't be read."""
    found: dict[str, str] = {}
    unreadable: list[str] = []
    for path in sorted((ROOT / "bot").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "prometheus_client" not in source:
            continue
        tree = ast.parse(source)
        constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                     for t in n.targets if isinstance(t, ast.Name)
                     and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if func not in CONSTRUCTORS:
                continue
            kwargs = {k.arg: k.value for k in node.keywords if k.arg}
            if len(node.args) < 2 and "documentation" not in kwargs:
                continue  # not a prometheus_client metric (e.g. collections.Counter)
            name = _string(node.args[0] if node.args else kwargs.get("name"), constants)
            if name is None:
                unreadable.append(f"{path.relative_to(ROOT)}:{node.lineno}")
                continue
            prefix = [_string(kwargs.get(k), constants) or "" for k in ("namespace", "subsystem")]
            full = "_".join(p for p in [*prefix, name] if p)
            kind = CONSTRUCTORS[func]
            if kind == "counter" and full.endswith("_total"):
                full = full[: -len("_total")]
            if kind == "info" and full.endswith("_info"):
                full = full[: -len("_info")]
            found[full] = kind
    return found, unreadable


def exported_series() -> set[str]:
    families, _ = declared_metrics()
    return {name + suffix for name, kind in families.items() for suffix in SERIES[kind]}


def test_every_metric_name_in_the_code_can_be_read() -> None:
    families, unreadable = declared_metrics()
    assert not unreadable, (f"metrics whose name is not a string literal or module constant: {unreadable}; "
                            "write the name out so the dashboard and alert checks can see it")
    assert {"bot_feishu_events", "bot_web_handling_seconds", "bot_jobs_queued", "bot_jobs_ended"} <= set(families)
    assert all(n.startswith("bot_") for n in families), "every metric of the bot is named bot_…"


def test_the_reading_matches_what_a_live_app_exposes(redis_url: str) -> None:
    """The static reading sees every family a real app's registry exposes, and names them the same."""
    from bot.config import Settings
    from bot.web.app import create_app

    settings = Settings(_env_file=None, redis_url=redis_url, feishu_encrypt_key="k")  # type: ignore[call-arg]
    app = create_app(settings)
    registry = app.extensions["seedance_bot"]["metrics"].registry
    live = {m.name: m.type for m in registry.collect()}
    families, _ = declared_metrics()
    assert live.items() <= families.items(), set(live.items()) - set(families.items())
    exposed = {s.name for m in registry.collect() for s in m.samples}
    assert exposed <= exported_series(), exposed - exported_series()


# --- PromQL -----------------------------------------------------------------------------------------------

GRAFANA_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
                "__interval_ms": "60000", "__range_ms": "3600000"}


def substitute(expr: str, variables: dict[str, str]) -> str:
    """Grafana's $var / ${var} / [[var]] replaced by sample values (unknown ones are an error)."""
    def value(name: str) -> str:
        assert name in variables, f"undefined variable ${name} in {expr!r}"
        return variables[name]

    expr = re.sub(r"\$\{(\w+)(?::\w+)?\}", lambda m: value(m.group(1)), expr)
    expr = re.sub(r"\[\[(\w+)\]\]", lambda m: value(m.group(1)), expr)
    return re.sub(r"\$(\w+)", lambda m: value(m.group(1)), expr)


def selected_metrics(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (parsed, not pattern-matched)."""
    import promql_parser

    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector | promql_parser.MatrixSelector):
            selector = node if isinstance(node, promql_parser.VectorSelector) else node.vector_selector
            if selector.name:
                names.add(selector.name)
            else:
                for m in selector.matchers.matchers:
                    if m.name == "__name__":
                        names.add(m.value)

    promql_parser.walk(promql_parser.parse(expr), visit)
    assert names, f"{expr!r} selects no metric"
    return names


def check_expr(expr: str, where: str) -> None:
    unknown = selected_metrics(expr) - exported_series() - PROMETHEUS_OWN
    assert not unknown, f"{where}: {sorted(unknown)} not exported by the bot (exported: {sorted(exported_series())})"


def test_the_promql_check_catches_an_unknown_metric() -> None:
    with pytest.raises(AssertionError, match="bot_no_such_metric"):
        check_expr('sum(rate(bot_no_such_metric_total[5m])) / sum(rate(bot_feishu_events_total[5m]))', "self-test")
    with pytest.raises(ValueError):
        selected_metrics("sum(rate(bot_feishu_events_total[5m])")  # unbalanced


# --- the dashboard ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def all_panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def test_the_dashboard_has_grafanas_essentials(dashboard: dict[str, Any]) -> None:
    for key, kind in (("title", str), ("uid", str), ("schemaVersion", int), ("panels", list),
                      ("templating", dict), ("time", dict)):
        assert isinstance(dashboard.get(key), kind), key
    assert dashboard["schemaVersion"] >= 36 and re.fullmatch(r"[\w-]{1,40}", dashboard["uid"])
    assert "id" not in dashboard or dashboard["id"] is None, "no instance id: it is assigned on import"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    sources = [v for v in variables.values() if v["type"] == "datasource"]
    assert [v["query"] for v in sources] == ["prometheus"], "one Prometheus data source variable"
    ds_ref = {"type": "prometheus", "uid": "${" + sources[0]["name"] + "}"}
    panels = list(all_panels(dashboard["panels"]))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids), "unique panel ids"
    cells: set[tuple[int, int]] = set()
    for p in panels:
        g = p["gridPos"]
        assert all(isinstance(g[k], int) for k in "hwxy") and g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']!r} overlaps another panel"
        cells |= mine
        assert p.get("title"), p["id"]
        if p["type"] == "row":
            continue
        assert p["datasource"] == ds_ref, p["title"]
        targets = p["targets"]
        assert targets, f"{p['title']!r} has no query"
        assert len({t["refId"] for t in targets}) == len(targets), f"{p['title']!r}: refIds repeat"
        for t in targets:
            assert t.get("datasource", ds_ref) == ds_ref and t["expr"].strip(), p["title"]
    for v in variables.values():
        if v["type"] == "query":
            assert v["datasource"] == ds_ref, v["name"]


def test_every_dashboard_query_parses_and_names_exported_metrics(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: "x" for v in dashboard["templating"]["list"]} | GRAFANA_VARS
    count = 0
    for p in all_panels(dashboard["panels"]):
        for t in p.get("targets", []):
            check_expr(substitute(t["expr"], variables), f"panel {p['title']!r} {t['refId']}")
            count += 1
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            m = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", v["definition"])
            assert m, v["definition"]
            check_expr(substitute(m.group(1), variables), f"variable ${v['name']}")
    assert count >= 10


# --- the alert rules ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    doc = load_yaml(ALERTS)
    assert set(doc) == {"groups"}
    names = [g["name"] for g in doc["groups"]]
    assert len(names) == len(set(names)), "group names repeat"
    return [r for g in doc["groups"] for r in g["rules"]]


def test_alert_rules_are_well_formed(rules: list[dict[str, Any]]) -> None:
    import promql_parser

    names = [r["alert"] for r in rules]
    assert len(names) == len(set(names)) and len(names) >= 5
    for r in rules:
        assert set(r) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, r["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", r["alert"])
        if "for" in r:
            promql_parser.parse_duration(r["for"])
        assert r["labels"]["severity"] in {"critical", "warning", "info"}, r["alert"]
        assert r["annotations"]["summary"].strip() and r["annotations"]["description"].strip(), r["alert"]
        for text in r["annotations"].values():
            assert text.count("{{") == text.count("}}"), f"{r['alert']}: unbalanced template"
            for ref in re.findall(r"\$labels\.(\w+)", text):
                assert re.search(rf"\bby \([^)]*\b{ref}\b", r["expr"]), \
                    f"{r['alert']}: $labels.{ref} is aggregated away"


def test_every_alert_expression_parses_and_names_exported_metrics(rules: list[dict[str, Any]]) -> None:
    for r in rules:
        check_expr(r["expr"], f"alert {r['alert']}")
        assert 'job="seedance-bot"' in r["expr"], f"{r['alert']}: select the bot's scrape job"


def test_the_example_scrape_config_loads_the_rules_under_the_expected_job() -> None:
    config = load_yaml(MONITORING / "prometheus.example.yaml")
    assert config["rule_files"] == ["alerts.yaml"]
    assert [j["job_name"] for j in config["scrape_configs"]] == ["seedance-bot"]


def test_the_example_scrapes_every_role_of_a_split_deployment() -> None:
    from bot.cli.roles import ROLES

    (job,) = load_yaml(MONITORING / "prometheus.example.yaml")["scrape_configs"]
    labelled = {group["labels"]["role"] for group in job["static_configs"]}
    assert labelled == set(ROLES) - {"serve"}, labelled  # serve: the one-machine alternative to them all


def test_losing_every_process_that_takes_feishus_events_is_critical(rules: list[dict[str, Any]]) -> None:
    """Webhook mode: web (or serve); long-connection mode: connect, web then optional. Both alert."""
    critical = [r["expr"] for r in rules if r["labels"]["severity"] == "critical" and "up{" in r["expr"]]
    for role in ("web", "serve", "connect"):
        assert any(re.search(rf'role=~?"[^"]*\b{role}\b', expr) for expr in critical), role


def test_no_dashboard_or_rule_file_is_left_unchecked() -> None:
    files = {p.name for p in MONITORING.iterdir()}
    assert files == {"grafana-dashboard.json", "alerts.yaml", "prometheus.example.yaml"}, files


