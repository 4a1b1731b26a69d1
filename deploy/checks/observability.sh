#!/usr/bin/env bash
# Checks Obol's monitoring offline (deploy/k8s/base/monitoring): the ServiceMonitors (and, in
# the built base, that each reaches a Service port whose pods serve /metrics there and let
# Prometheus in), the PrometheusRule's alerts (promtool check + unit tests, every alert fired
# and left silent, runbook sections, known metric names) and the Grafana dashboard (layout,
# datasource variable, known metric names, every query parsed by promtool).
#
# Each PrometheusRule's `spec` is a plain Prometheus rules file: it is written to a temporary
# directory as <metadata.name>.rules.yaml, next to a copy of tests/*.yaml, whose `rule_files`
# name it that way (tests/alerts_test.yaml reads obol-alerts.rules.yaml).
#
# Needs python3 with PyYAML and promtool (Debian's `prometheus` package), and pykustomize for
# the two checks that build with kustomize (they say "skipped" without it); all come from
# deploy/checks/install-tools. Prints one line per check; exits non-zero when any fails.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 2
MON=deploy/k8s/base/monitoring
PYTHON=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
passed=0

# check NAME COMMAND...: one check, timed, counted into $passed and $failures.
source deploy/checks/lib/check.bash

# The static checks, in Python: `lib.py MODE ARGS...`.
cat >"$tmp/lib.py" <<'PY'
import glob
import json
import os
import re
import sys

import yaml

MON = "deploy/k8s/base/monitoring"
ROLES = ["gateway", "payments", "ledger", "auth"]

# Every metric the alerts and the dashboard may read: what the obol server exposes (see
# server/src/metrics.rs), Prometheus' own `up`, and the kube-state-metrics series used for
# readiness. A name outside this list is a typo or a metric the server does not have.
HISTOGRAMS = [
    "obol_http_request_duration_seconds",
    "obol_ledger_batch_size",
    "obol_ledger_commit_duration_seconds",
]
KNOWN_METRICS = {
    "obol_http_requests_total",
    "obol_payment_operations_total",
    "obol_ledger_batches_failed_total",
    "obol_ledger_imbalance",
    "obol_ledger_imbalance_checked_timestamp_seconds",
    "obol_webhook_deliveries_pending",
    "obol_webhook_oldest_pending_seconds",
    "obol_webhook_delivery_attempts_total",
    "up",
    "kube_deployment_spec_replicas",
    "kube_deployment_status_replicas_available",
} | {h + s for h in HISTOGRAMS for s in ("_bucket", "_sum", "_count")}

KEYWORDS = {
    "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
    "group_left", "group_right", "inf", "nan", "atan2",
}


def fail(message):
    print(message)
    sys.exit(1)


def docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def metric_names(expr):
    """The metric names a PromQL expression selects (a small scanner, not a parser:
    promtool parses every expression separately)."""
    e = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\$\{?\w+(?::\w+)?\}?", "", e)  # Grafana variables
    e = re.sub(r"\{[^}]*\}", "", e)  # label matchers
    e = re.sub(r"\[[^\]]*\]", "", e)  # ranges and subqueries
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        token = m.group(0)
        if token[0].isdigit() or token.lower() in KEYWORDS:
            continue
        if re.match(r"\s*\(", e[m.end():]):
            continue  # a function or an aggregation
        names.add(token)
    return names


def prometheus_rules():
    found = []
    for path in sorted(glob.glob(f"{MON}/*.yaml")):
        for d in docs(path):
            if d.get("kind") == "PrometheusRule":
                found.append((path, d))
    return found


def all_alerts():
    alerts = []
    for _, rule in prometheus_rules():
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                if "alert" in r:
                    alerts.append(r)
    return alerts


def extract(outdir):
    rules = prometheus_rules()
    if not rules:
        fail(f"no PrometheusRule in {MON}")
    names = []
    for path, rule in rules:
        name = rule["metadata"]["name"]
        spec = rule.get("spec") or {}
        if set(spec) != {"groups"}:
            fail(f"{path}: {name}: spec must hold only `groups`, has {sorted(spec)}")
        with open(os.path.join(outdir, f"{name}.rules.yaml"), "w") as f:
            yaml.safe_dump(spec, f, sort_keys=False)
        names.append(f"{name}.rules.yaml")
    print(f"{len(rules)} PrometheusRule(s): {', '.join(names)}")


def lint_rules():
    problems = []
    rules = prometheus_rules()
    runbook = open(f"{MON}/RUNBOOK.md").read().lower()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", h.strip().lstrip("#").strip()).replace(" ", "-")
        for h in runbook.splitlines()
        if h.startswith("#")
    }
    count = 0
    seen = set()
    for path, rule in rules:
        if rule["metadata"].get("labels", {}).get("release") != "kube-prometheus-stack":
            problems.append(f"{path}: label release: kube-prometheus-stack missing")
        for group in rule["spec"]["groups"]:
            for r in group["rules"]:
                kind = r.get("alert") or r.get("record")
                unknown = metric_names(r["expr"]) - KNOWN_METRICS
                if unknown:
                    problems.append(f"{kind}: unknown metrics {sorted(unknown)}")
                if "alert" not in r:
                    continue
                count += 1
                name = r["alert"]
                if name in seen:
                    problems.append(f"{name}: defined twice")
                seen.add(name)
                if r.get("labels", {}).get("severity") not in ("critical", "warning", "info"):
                    problems.append(f"{name}: severity label must be critical, warning or info")
                notes = r.get("annotations", {})
                for key in ("summary", "description", "runbook_url"):
                    if not notes.get(key):
                        problems.append(f"{name}: annotation {key} missing")
                url = notes.get("runbook_url", "")
                if not url.endswith("RUNBOOK.md#" + name.lower()):
                    problems.append(f"{name}: runbook_url must end with RUNBOOK.md#{name.lower()}")
                if name.lower() not in anchors:
                    problems.append(f"{name}: no section `## {name}` in {MON}/RUNBOOK.md")
    if problems:
        fail("\n".join(problems))
    print(f"{count} alerts: labels, annotations, runbooks and metric names")


def test_coverage(tests_dir):
    """Every alert has a test where it fires and one where it must stay silent."""
    fires, silent = set(), set()
    for path in sorted(glob.glob(f"{tests_dir}/*.yaml")):
        for d in docs(path):
            for test in d.get("tests", []):
                for t in test.get("alert_rule_test", []):
                    (fires if t.get("exp_alerts") else silent).add(t["alertname"])
    names = [a["alert"] for a in all_alerts()]
    problems = [f"{n}: no test where it fires" for n in names if n not in fires]
    problems += [f"{n}: no test where it stays silent" for n in names if n not in silent]
    problems += [f"{n}: tested but not defined" for n in sorted((fires | silent) - set(names))]
    if problems:
        fail("\n".join(problems))
    print(f"{len(names)} alerts, each tested firing and silent")


def servicemonitors():
    monitors = {}
    for path in sorted(glob.glob(f"{MON}/*.yaml")):
        for d in docs(path):
            if d.get("kind") == "ServiceMonitor":
                monitors[d["metadata"]["name"]] = d
    problems = []
    for role in ROLES:
        m = monitors.get(f"obol-{role}")
        if m is None:
            problems.append(f"no ServiceMonitor obol-{role}")
            continue
        if m["metadata"].get("labels", {}).get("release") != "kube-prometheus-stack":
            problems.append(f"obol-{role}: label release: kube-prometheus-stack missing")
        want = {"app.kubernetes.io/name": "obol", "app.kubernetes.io/component": role}
        if m["spec"]["selector"].get("matchLabels") != want:
            problems.append(f"obol-{role}: selector must be exactly {want}")
        eps = m["spec"].get("endpoints", [])
        if [(e.get("port"), e.get("path"), e.get("interval")) for e in eps] != [("http", "/metrics", "30s")]:
            problems.append(f"obol-{role}: needs one endpoint: port http, path /metrics, interval 30s")
    if problems:
        fail("\n".join(problems))
    print(f"{len(ROLES)} ServiceMonitors: port http, /metrics, 30s")


def kustomization():
    k = docs(f"{MON}/kustomization.yaml")[0]
    problems = []
    for r in k.get("resources", []):
        if not os.path.exists(os.path.join(MON, r)):
            problems.append(f"resource {r} does not exist")
    gens = [g for g in k.get("configMapGenerator", []) if g.get("name") == "obol-dashboard"]
    if len(gens) != 1:
        problems.append("configMapGenerator obol-dashboard missing")
    else:
        g = gens[0]
        opts = g.get("options", {})
        if g.get("files") != ["obol-dashboard.json"]:
            problems.append("obol-dashboard must hold obol-dashboard.json")
        if opts.get("disableNameSuffixHash") is not True:
            problems.append("obol-dashboard needs disableNameSuffixHash: true")
        if opts.get("labels", {}).get("grafana_dashboard") != "1":
            problems.append('obol-dashboard needs the label grafana_dashboard: "1"')
    if problems:
        fail("\n".join(problems))
    print(f"{len(k.get('resources', []))} resources + ConfigMap obol-dashboard")


def kustomize_build():
    """The real `kustomize build` of the monitoring directory (pykustomize, kustomize v5)."""
    try:
        import asyncio
        import pykustomize
    except ImportError:
        print("skipped: pykustomize is not installed (deploy/checks/install-tools)")
        return
    built = asyncio.run(pykustomize.build(MON)).yaml
    objs = [d for d in yaml.safe_load_all(built) if d]
    got = sorted((o["kind"], o["metadata"]["name"]) for o in objs)
    want = sorted([("ConfigMap", "obol-dashboard"), ("PrometheusRule", "obol-alerts")]
                  + [("ServiceMonitor", f"obol-{r}") for r in ROLES])
    problems = []
    if got != want:
        problems.append(f"built {got}, want {want}")
    for o in objs:
        meta = o["metadata"]
        if meta.get("namespace") != "obol":
            problems.append(f"{o['kind']} {meta['name']}: namespace {meta.get('namespace')!r}, want obol")
        if o["kind"] == "ConfigMap":
            if meta.get("labels", {}).get("grafana_dashboard") != "1":
                problems.append("ConfigMap obol-dashboard: label grafana_dashboard: \"1\" missing")
            with open(f"{MON}/obol-dashboard.json") as f:
                if o.get("data", {}).get("obol-dashboard.json") != f.read():
                    problems.append("ConfigMap obol-dashboard: data differs from obol-dashboard.json")
        if o["kind"] == "PrometheusRule":
            source = {r["metadata"]["name"]: r for _, r in prometheus_rules()}
            if o["spec"] != source[meta["name"]]["spec"]:
                problems.append(f"PrometheusRule {meta['name']}: the build changed its spec")
    if problems:
        fail("\n".join(problems))
    print(f"kustomize {pykustomize.native_version()}: {len(objs)} objects in namespace obol")


def scrape_targets():
    """Each ServiceMonitor, in the built base, selects one Service with a port `http` whose
    pods serve /metrics on it (the gateway on OBOL_HTTP_ADDR, a gRPC role on OBOL_OPS_ADDR:
    server/src/serve.rs) and let the monitoring namespace in."""
    try:
        import asyncio
        import pykustomize
    except ImportError:
        print("skipped: pykustomize is not installed (deploy/checks/install-tools)")
        return
    base = "deploy/k8s/base"
    objs = [d for d in yaml.safe_load_all(asyncio.run(pykustomize.build(base)).yaml) if d]
    kinds = lambda k: [o for o in objs if o["kind"] == k]  # noqa: E731
    matches = lambda sel, labels: all(labels.get(k) == v for k, v in sel.items())  # noqa: E731
    problems = []
    for sm in kinds("ServiceMonitor"):
        name = sm["metadata"]["name"]
        sel = sm["spec"]["selector"]["matchLabels"]
        svcs = [s for s in kinds("Service") if matches(sel, s["metadata"].get("labels", {}))]
        if len(svcs) != 1:
            problems.append(f"{name}: selects {len(svcs)} Services, want 1")
            continue
        svc = svcs[0]
        port = next((p for p in svc["spec"]["ports"] if p.get("name") == "http"), None)
        if port is None:
            problems.append(f"{name}: Service {svc['metadata']['name']} has no port named http")
            continue
        pods = [d for d in kinds("Deployment")
                if matches(svc["spec"]["selector"], d["spec"]["template"]["metadata"].get("labels", {}))]
        if len(pods) != 1:
            problems.append(f"{name}: Service {svc['metadata']['name']} selects {len(pods)} Deployments, want 1")
            continue
        deploy = pods[0]
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        target = port.get("targetPort", port["port"])
        cport = next((p["containerPort"] for p in container.get("ports", [])
                      if p.get("name") == target or p["containerPort"] == target), None)
        if cport is None:
            problems.append(f"{name}: {deploy['metadata']['name']} has no container port {target}")
            continue
        role = sm["spec"]["selector"]["matchLabels"].get("app.kubernetes.io/component")
        var = "OBOL_HTTP_ADDR" if role == "gateway" else "OBOL_OPS_ADDR"
        env = {}
        for ref in container.get("envFrom", []):  # env: entries win over envFrom
            cm = ref.get("configMapRef", {}).get("name")
            for c in kinds("ConfigMap"):
                if c["metadata"]["name"] == cm:
                    env.update({ref.get("prefix", "") + k: v for k, v in c.get("data", {}).items()})
        env.update({e["name"]: e.get("value") for e in container.get("env", [])})
        if not str(env.get(var, "")).endswith(f":{cport}"):
            problems.append(
                f"{name}: {deploy['metadata']['name']} serves /metrics on {var}, which is "
                f"{env.get(var)!r}, not port {cport} (the {role} role "
                + ("serves REST and /metrics on OBOL_HTTP_ADDR)" if role == "gateway"
                   else "serves /healthz, /readyz and /metrics only on OBOL_OPS_ADDR)"))
        labels = deploy["spec"]["template"]["metadata"].get("labels", {})
        admitted = False
        for np in kinds("NetworkPolicy"):
            psel = np["spec"].get("podSelector", {})
            ok = matches(psel.get("matchLabels", {}), labels) and all(
                (labels.get(e["key"]) in e.get("values", [])) == (e["operator"] == "In")
                for e in psel.get("matchExpressions", []))
            if not ok:
                continue
            for rule in np["spec"].get("ingress", []):
                froms = rule.get("from", [])
                ports = [p.get("port") for p in rule.get("ports", [])]
                if ports and cport not in ports and "http" not in ports:
                    continue
                if not froms or any(
                    f.get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") == "monitoring"
                    for f in froms):
                    admitted = True
        if not admitted:
            problems.append(f"{name}: no NetworkPolicy lets the monitoring namespace reach port {cport}")
    if problems:
        fail("\n".join(problems))
    print(f"{len(kinds('ServiceMonitor'))} ServiceMonitors each reach one Service, port and listener")


def panels(dashboard):
    for p in dashboard.get("panels", []):
        yield p
        yield from p.get("panels", [])  # collapsed rows


def dashboard(rules_out):
    path = f"{MON}/obol-dashboard.json"
    with open(path) as f:
        d = json.load(f)
    problems = []
    if not 36 <= d.get("schemaVersion", 0) <= 41:
        problems.append(f"schemaVersion {d.get('schemaVersion')} (want 36..41)")
    if not d.get("uid") or not d.get("title"):
        problems.append("uid and title are required")
    var = [v for v in d.get("templating", {}).get("list", []) if v.get("name") == "datasource"]
    if not var or var[0].get("type") != "datasource" or var[0].get("query") != "prometheus":
        problems.append("needs a `datasource` variable of type datasource, query prometheus")
    cells = {}
    for p in panels(d):
        g = p.get("gridPos", {})
        if not all(k in g for k in ("x", "y", "w", "h")) or g["x"] + g["w"] > 24:
            problems.append(f"panel {p.get('title')}: gridPos {g} outside the 24-column grid")
            continue
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    problems.append(f"panel {p.get('title')} overlaps {cells[(x, y)]}")
                    break
                cells[(x, y)] = p.get("title")
            else:
                continue
            break
    ids, exprs, count = set(), [], 0
    for p in panels(d):
        if p.get("type") == "row":
            continue
        count += 1
        title = p.get("title", "?")
        if p.get("id") in ids:
            problems.append(f"panel {title}: duplicate id {p.get('id')}")
        ids.add(p.get("id"))
        if p.get("datasource", {}).get("uid") != "${datasource}":
            problems.append(f"panel {title}: datasource must be ${{datasource}}")
        targets = p.get("targets", [])
        if not targets:
            problems.append(f"panel {title}: no query")
        for t in targets:
            expr = t.get("expr", "")
            if not expr.strip():
                problems.append(f"panel {title}: empty expr")
                continue
            unknown = metric_names(expr) - KNOWN_METRICS
            if unknown:
                problems.append(f"panel {title}: unknown metrics {sorted(unknown)}")
            exprs.append((title, t.get("refId"), expr))
    # Every expression, with Grafana's variables filled in, as a recording rule for
    # `promtool check rules` to parse.
    rules = []
    for i, (title, ref, expr) in enumerate(exprs):
        e = expr
        for var_, val in (("$__rate_interval", "2m"), ("$__interval", "1m"), ("$__range", "1h")):
            e = e.replace(var_, val)
        e = re.sub(r"\$\{?(\w+)(?::\w+)?\}?", "obol", e)
        rules.append({"record": f"dashboard:panel_{i}", "expr": e,
                      "labels": {"panel": f"{title} {ref}"}})
    with open(rules_out, "w") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False)
    if problems:
        fail("\n".join(problems))
    print(f"{count} panels, {len(exprs)} queries, known metrics only")


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    {
        "extract": extract,
        "lint-rules": lint_rules,
        "test-coverage": test_coverage,
        "servicemonitors": servicemonitors,
        "kustomization": kustomization,
        "kustomize-build": kustomize_build,
        "scrape-targets": scrape_targets,
        "dashboard": dashboard,
    }[mode](*args)
PY

lib() { "$PYTHON" "$tmp/lib.py" "$@"; }

need_tools() {
    command -v promtool >/dev/null || { echo "promtool not found (apt-get install prometheus)"; return 1; }
    "$PYTHON" -c 'import yaml' || { echo "PyYAML not found for $PYTHON"; return 1; }
    promtool --version 2>&1 | head -n 1
}

check "tools: promtool, python3 + PyYAML" need_tools || true
if [ "$failures" -ne 0 ]; then
    echo "observability: the tools are missing; deploy/checks/install-tools installs them"
    exit 1
fi

mkdir -p "$tmp/rules"
check "extract PrometheusRule specs" lib extract "$tmp/rules"
check "ServiceMonitors (one per role)" lib servicemonitors
check "kustomization (resources, dashboard ConfigMap)" lib kustomization
check "kustomize build of monitoring/ (pykustomize)" lib kustomize-build
check "scrape targets in the built base (Service, port, listener)" lib scrape-targets
check "alert rules: labels, annotations, runbooks, metrics" lib lint-rules
check "promtool check rules" promtool check rules "$tmp"/rules/*.rules.yaml
cp "$MON"/tests/*.yaml "$tmp/rules/"
check "every alert tested firing and silent" lib test-coverage "$MON/tests"
check "promtool test rules (tests/*.yaml)" bash -c 'cd "$1" && promtool test rules *_test.yaml' _ "$tmp/rules"
check "dashboard JSON: panels, datasource, metrics" lib dashboard "$tmp/dashboard.rules.yaml"
check "dashboard queries parse (promtool)" promtool check rules "$tmp/dashboard.rules.yaml"

echo "observability: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
