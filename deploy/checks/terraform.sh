#!/usr/bin/env bash
# Checks deploy/terraform offline (terraform init cannot fetch providers here, so no
# `terraform validate`):
#  - every .tf parses with python-hcl2 (PyPI), and what it declares is pinned: a
#    required_version, every provider with a source and an exact version, every helm_release
#    with an exact chart version (a literal or a variable whose default is exact);
#  - kube-prometheus-stack's release name is the `release` label the monitoring manifests carry;
#  - every `#checkov:skip=` names its check and gives a reason;
#  - `terraform fmt -check`, when a terraform binary is on PATH;
#  - checkov (framework terraform, with Obol's policies in deploy/terraform/policies) passes
#    some checks and fails none.
#
# Needs python3 with python-hcl2 and PyYAML, and checkov, from deploy/checks/install-tools
# (separate venvs: checkov's bc-python-hcl2 installs a conflicting `hcl2` module). Prints one
# line per check; exits non-zero when any fails.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 2
TF=deploy/terraform
PYTHON=${PYTHON:-python3}
CHECKOV=${CHECKOV:-checkov}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
passed=0

# check NAME COMMAND...: one check, timed, counted into $passed and $failures.
source deploy/checks/lib/check.bash

cat >"$tmp/hcl.py" <<'PY'
import glob
import importlib.metadata
import os
import re
import sys

TF = "deploy/terraform"
EXACT = re.compile(r"^v?\d+\.\d+\.\d+$")


def fail(problems):
    print("\n".join(problems))
    sys.exit(1)


def python_hcl2():
    """Imports python-hcl2's `hcl2`, refusing checkov's bc-python-hcl2 (same module name)."""
    try:
        dist = importlib.metadata.distribution("python-hcl2")
    except importlib.metadata.PackageNotFoundError:
        fail([f"python-hcl2 is not installed for {sys.executable}"])
    try:
        importlib.metadata.distribution("bc-python-hcl2")
        fail([f"{sys.executable} has both python-hcl2 and checkov's bc-python-hcl2, which "
              "overwrite each other's `hcl2` module: install checkov in its own venv"])
    except importlib.metadata.PackageNotFoundError:
        pass
    import hcl2
    return hcl2, dist.version


def unquote(value):
    """python-hcl2 keeps strings' quotes and wraps expressions in ${...}."""
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def blocks(doc, kind):
    """(labels..., body) for every block of a kind: resource "a" "b" -> ("a", "b", body)."""
    out = []
    for entry in doc.get(kind, []):
        for k1, v1 in entry.items():
            if k1 == "__is_block__":
                continue
            if kind in ("resource", "data"):
                for k2, v2 in v1.items():
                    if k2 != "__is_block__":
                        out.append((unquote(k1), unquote(k2), v2))
            else:
                out.append((unquote(k1), v1))
    return out


def parse_all(hcl2):
    docs, problems = {}, []
    for path in sorted(glob.glob(f"{TF}/**/*.tf", recursive=True)):
        try:
            with open(path) as f:
                docs[path] = hcl2.load(f)
        except Exception as e:  # noqa: BLE001 - any parser error is the finding
            problems.append(f"{path}: {type(e).__name__}: {e}")
    if not docs and not problems:
        problems.append(f"no .tf file under {TF}")
    return docs, problems


def parse():
    hcl2, version = python_hcl2()
    docs, problems = parse_all(hcl2)
    if problems:
        fail(problems)
    print(f"{len(docs)} files parse (python-hcl2 {version})")


def pins():
    hcl2, _ = python_hcl2()
    docs, problems = parse_all(hcl2)
    if problems:
        fail(problems)
    variables, providers, required_version = {}, {}, None
    used = set()
    for path, doc in docs.items():
        for name, body in blocks(doc, "variable"):
            variables[name] = unquote(body.get("default"))
        for t in doc.get("terraform", []):
            if "required_version" in t:
                required_version = unquote(t["required_version"])
            for rp in t.get("required_providers", []):
                for name, spec in rp.items():
                    if name != "__is_block__":
                        providers[name] = {k: unquote(v) for k, v in spec.items()}
        for kind in ("resource", "data"):
            for rtype, _, _ in blocks(doc, kind):
                used.add(rtype.split("_")[0])
        for name, _ in blocks(doc, "provider"):
            used.add(name)
    used -= {"terraform"}  # terraform_data is built in
    if not required_version:
        problems.append("terraform { required_version } is missing")
    for name, spec in sorted(providers.items()):
        if not spec.get("source"):
            problems.append(f"provider {name}: no source")
        version = (spec.get("version") or "").lstrip("= ").strip()
        if not EXACT.match(version):
            problems.append(f"provider {name}: version {spec.get('version')!r} is not an exact pin")
    for name in sorted(used - set(providers)):
        problems.append(f"provider {name} is used but not in required_providers")

    releases = []
    for path, doc in docs.items():
        for rtype, rname, body in blocks(doc, "resource"):
            if rtype != "helm_release":
                continue
            releases.append((rname, body))
            for key in ("name", "chart", "repository"):
                if key not in body:
                    problems.append(f"helm_release.{rname}: no {key}")
            version = unquote(body.get("version"))
            m = re.fullmatch(r"\$\{var\.(\w+)\}", version or "")
            if version is None:
                problems.append(f"helm_release.{rname}: no version")
            elif m:
                default = variables.get(m.group(1))
                if not (isinstance(default, str) and EXACT.match(default)):
                    problems.append(f"helm_release.{rname}: var.{m.group(1)} default {default!r} is not an exact version")
            elif not EXACT.match(version):
                problems.append(f"helm_release.{rname}: version {version!r} is not an exact version")

    # Prometheus selects ServiceMonitors/PrometheusRules labelled release: <release name>.
    import yaml
    wanted = set()
    for path in glob.glob("deploy/k8s/base/monitoring/*.yaml"):
        with open(path) as f:
            for d in yaml.safe_load_all(f):
                if d and d.get("kind") in ("ServiceMonitor", "PrometheusRule"):
                    wanted.add(d["metadata"].get("labels", {}).get("release"))
    kps = [unquote(b.get("name")) for _, b in releases if unquote(b.get("chart")) == "kube-prometheus-stack"]
    if len(kps) != 1:
        problems.append("no (or several) helm_release of the kube-prometheus-stack chart")
    elif wanted and wanted != {kps[0]}:
        problems.append(f"kube-prometheus-stack release {kps[0]!r} does not match the monitoring manifests' release label {sorted(map(str, wanted))}")
    if problems:
        fail(problems)
    print(f"{len(providers)} providers and {len(releases)} helm_releases pinned exactly")


def skips():
    problems, count = [], 0
    for path in sorted(glob.glob(f"{TF}/**/*.tf", recursive=True)):
        with open(path) as f:
            for n, line in enumerate(f, 1):
                for m in re.finditer(r"checkov:skip=([^\s:]*)(?::(.*))?", line):
                    count += 1
                    check_id, reason = m.group(1), (m.group(2) or "").strip()
                    if not re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check_id):
                        problems.append(f"{path}:{n}: skip of {check_id!r} does not name a check")
                    if len(reason) < 15:
                        problems.append(f"{path}:{n}: skip of {check_id} needs a real reason")
    if problems:
        fail(problems)
    print(f"{count} skips, each with a reason")


if __name__ == "__main__":
    {"parse": parse, "pins": pins, "skips": skips}[sys.argv[1]]()
PY

hcl() { "$PYTHON" "$tmp/hcl.py" "$@"; }

tf_fmt() {
    if ! command -v terraform >/dev/null 2>&1; then
        echo "skipped: no terraform binary (it cannot be downloaded here)"
        return 0
    fi
    : >"$tmp/terraformrc"
    TF_CLI_CONFIG_FILE="$tmp/terraformrc" terraform fmt -check -diff -no-color -recursive "$TF" || return 1
    TF_CLI_CONFIG_FILE="$tmp/terraformrc" terraform version -no-color | sed -n 1p
}

run_checkov() {
    command -v "$CHECKOV" >/dev/null 2>&1 || { echo "checkov not found (deploy/checks/install-tools)"; return 1; }
    # --skip-download: no call to Prisma Cloud for guidelines (there is no network here).
    # Checkov has no policy of its own for helm_release, kubernetes_manifest or
    # kustomization_resource, so deploy/terraform/policies adds Obol's (CKV2_OBOL_*), and a run
    # that passed no check at all (every resource dropped by checkov's parser) fails.
    "$CHECKOV" -d "$TF" --framework terraform --quiet --compact --skip-download \
        --external-checks-dir "$TF/policies" >"$tmp/checkov.out" 2>&1
    local status=$?
    local summary
    summary=$(grep -o 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$tmp/checkov.out" | head -n 1)
    if [ "$status" -ne 0 ] || grep -q -e '^Check: ' -e 'Parsing errors: [1-9]' "$tmp/checkov.out"; then
        cat "$tmp/checkov.out"
        return 1
    fi
    case "$summary" in
    "Passed checks: 0,"* | "")
        cat "$tmp/checkov.out"
        echo "checkov ran no check"
        return 1
        ;;
    esac
    printf 'checkov %s: %s\n' "$("$CHECKOV" --version)" "$summary"
}

check "HCL parses (python-hcl2)" hcl parse
check "providers, required_version, chart versions pinned" hcl pins
check "checkov skips carry reasons" hcl skips
check "terraform fmt -check" tf_fmt
check "checkov (terraform framework)" run_checkov

echo "terraform: $passed passed, $failures failed"
[ "$failures" -eq 0 ]
