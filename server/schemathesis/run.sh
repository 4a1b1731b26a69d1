#!/usr/bin/env bash
# Runs Schemathesis (PyPI) with every check against `obol serve --dev` on a fresh data
# directory, acting with an API key that holds every scope. Only the operation that could
# revoke that key is left out. Exits with Schemathesis's status: zero means no failure.
#
#   server/schemathesis/run.sh [extra schemathesis options]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
here="$root/server/schemathesis"
target=${CARGO_TARGET_DIR:-$root/target}
# SERVER_BIN names a server binary built already. CI passes the one its tests built: building
# obol-server alone resolves its dependencies' features apart from the workspace's, and so
# builds a hundred crates again. (Not an OBOL_ name: the server inherits this environment and
# refuses OBOL_ settings it does not know.)
bin=${SERVER_BIN:-}
if [ -z "$bin" ]; then
  (cd "$root" && cargo build --quiet -p obol-server)
  bin="$target/debug/obol"
fi

data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
OBOL_DATA_DIR="$data" OBOL_HTTP_ADDR="127.0.0.1:$port" OBOL_GRPC_ADDR=127.0.0.1:0 \
  OBOL_RATE_LIMIT_PER_SECOND=100000 OBOL_RATE_LIMIT_BURST=100000 OBOL_LOG=error \
  "$bin" serve --dev > "$data/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
# A first start on a new machine creates the database and keys: give it a minute.
for _ in $(seq 1 600); do
  grep -q "dev sign-in:" "$data/server.log" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "dev sign-in:" "$data/server.log" 2>/dev/null; then
  echo "obol serve --dev did not start; its log:" >&2
  cat "$data/server.log" >&2
  exit 1
fi
# The sign-in line may come before the listener accepts: wait for /readyz too.
python3 - "$base" <<'PY' || { echo "obol serve --dev is not ready; its log:" >&2; cat "$data/server.log" >&2; exit 1; }
import sys, time, urllib.request
for _ in range(300):
    try:
        urllib.request.urlopen(sys.argv[1] + "/readyz", timeout=2)
        sys.exit(0)
    except Exception:
        time.sleep(0.1)
sys.exit(1)
PY
password=$(sed -n 's/.*dev sign-in: [^ ]* \/ //p' "$data/server.log")

key=$(python3 - "$base" "$password" <<'PY'
import json, sys, urllib.request
base, password = sys.argv[1], sys.argv[2]
def post(path, body, token=None):
    request = urllib.request.Request(base + path, json.dumps(body).encode(), method="POST")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", "Bearer " + token)
    return json.load(urllib.request.urlopen(request))
token = post("/v1/auth/login", {"email": "dev@obol.local", "password": password})["access_token"]
scopes = ["payments:read", "payments:write", "refunds:write", "ledger:read", "ledger:write",
          "webhooks:write", "users:admin"]
print(post("/v1/api_keys", {"name": "schemathesis", "scopes": scopes}, token)["secret"])
PY
)

# Run from the scratch directory: Schemathesis keeps its example cache in the working directory.
cd "$data"
schemathesis --config-file "$here/schemathesis.toml" run "$base/openapi.json" \
  --checks all \
  --header "Authorization: Bearer $key" \
  --exclude-operation-id post_v1_api_keys__id__revoke \
  --workers 1 \
  "$@"
