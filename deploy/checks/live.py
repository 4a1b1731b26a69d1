#!/usr/bin/env python3
"""Checks the dev overlay end to end on this machine: the rendered manifests' settings really
start the server, the kubelet's probes pass, a payment goes through the gateway, and
Prometheus scrapes every role as the ServiceMonitors say and loads the PrometheusRule.

1. Renders deploy/k8s/overlays/dev (pykustomize, as kubernetes.py does) and takes, for every
   Deployment running Obol and the migration Job, the container's environment as Kubernetes
   would give it (envFrom ConfigMaps, then env; `$(VAR)` references and `valueFrom`
   resolved), its args, probes, ports, volume mounts and security context.
2. Maps the cluster to this machine, changing as little as possible and printing each
   change: listeners `0.0.0.0:P` -> `127.0.0.1:<free port>` (each role its own); URLs naming
   a Service -> `localhost:<the port of the role behind it>` (the certificates carry
   `localhost` besides their dnsNames, so the TLS name still checks); every file under a
   volume mount -> the same file in a local stand-in of that volume (cert-manager's Secrets
   from `obol certs`, obol-secrets' keys from test values, the database URL naming a fresh
   local database; owned and moded as the kubelet leaves them). A value that cannot be
   mapped fails the check. Stripe's API, which the payments role is given and this machine
   cannot reach, is mapped to localstripe (OBOL_STRIPE_API_BASE, the one variable added).
3. Runs the Job's args (`obol migrate`), then payments, ledger and auth, then the gateway,
   each with its own environment only (plus PATH, HOME, HOSTNAME and the KUBERNETES_SERVICE_*
   variables every pod gets), as the pod's user and groups when this check runs as root, in
   its own read-only working directory standing in for the image's, and waits for the
   banners.
4. Asks every probe of the rendered Deployments as the kubelet would (httpGet: 200; grpc: a
   grpc.health.v1 Check over plaintext HTTP/2, spoken here by hand: SERVING), then creates a
   user (`obol users create`, with the Job's environment), logs in and pays 12.50 USD with the
   test card through the gateway.
5. Starts Prometheus with one scrape job per ServiceMonitor endpoint (the target the Service's
   port leads to, `job` = the Service's name as the Prometheus Operator sets it, every 1s) and
   the PrometheusRule's groups as rule files (evaluated every 1s); waits for every target to
   be up and checks the metrics, the rules and the alerts.
6. Stops the servers with SIGTERM (each must exit 0, have written nothing in its working
   directory, the pods' root filesystem being read-only, and logged JSON only) and cleans up
   everything, also on failure (OBOL_LIVE_KEEP=1 keeps the temporary directory: logs,
   configuration, certificates).

One line per step; exit status 1 if any fails; about 10 s. Run through deploy/check (the
pinned tools, localstripe among them, are in deploy/checks/install-tools's venv). Needs the
server built from this tree ($OBOL_BIN, else $CARGO_TARGET_DIR/debug/obol, else
/var/tmp/obol-target/debug/obol), PostgreSQL on $PGHOST:$PGPORT (default 127.0.0.1:5432) as
$PGUSER (default postgres, trusted) with psql, and Prometheus (Debian's `prometheus` package:
prometheus and promtool).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "deploy" / "k8s" / "overlays" / "dev"

ENGINE_ROLES = ("payments", "ledger", "auth")
ROLES = ENGINE_ROLES + ("gateway",)
PG_HOST = os.environ.get("PGHOST", "127.0.0.1")
PG_PORT = os.environ.get("PGPORT", "5432")
PG_USER = os.environ.get("PGUSER", "postgres")
DATABASE = f"obol_deploy_live_{os.getpid()}"
# Every pod gets these from the kubelet (the `kubernetes` Service's address), whatever
# enableServiceLinks says; the image's distroless base sets PATH (and HOME for 65532).
KUBELET_ENV = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443",
               "KUBERNETES_SERVICE_PORT_HTTPS": "443"}
PATH = "/usr/local/bin:/usr/bin:/bin"
# How long a server may take to print its banner, a probe to pass, Prometheus to see its
# targets up and evaluate the rules, a server to stop after SIGTERM.
START_TIMEOUT = 20.0
PROBE_TIMEOUT = 10.0
PROMETHEUS_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
# The test values of obol-secrets' keys (a key not listed here cannot be mapped); the
# database URL and the key-encryption key are made at run time.
PASSWORD = "live-check-" + secrets.token_urlsafe(12)
TEST_SECRETS = {
    "stripe-secret-key": "sk_test_obolLiveCheck" + secrets.token_hex(8),
    "stripe-webhook-secret": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "paypal-client-id": "AobolLiveCheckClientId",
    "paypal-client-secret": "EobolLiveCheckClientSecret",
    "paypal-webhook-id": "0OBOLLIVECHECK00000000000",
}
# The Stripe rail's stand-in: localstripe (PyPI, installed by install-tools) behind the
# project's compatibility proxy, as the Stripe tests run it.
LOCALSTRIPE = ROOT / "providers" / "stripe" / "testing" / "localstripe_compat.py"
# Alerts whose conditions hold in a run of a few seconds on one machine, and why. Any other
# alert pending or firing fails the check. (Every alert waits `for` a minute or more, so in
# this run an alert whose expression holds is pending, never firing.)
EXPECTED_ALERTS: dict[str, str] = {}

Obj = dict[str, Any]


class Failed(Exception):
    """A step's problems."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


# -- the render -----------------------------------------------------------------------------

def name_of(obj: Obj) -> str:
    return obj.get("metadata", {}).get("name", "?")


def find(objs: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind and (name is None or name_of(o) == name)]


def labels_match(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def role_of(container: Obj) -> str | None:
    args = list(container.get("args") or [])
    if args[:1] == ["migrate"]:
        return "migrate"
    if args[:1] == ["serve"] and "--role" in args:
        return args[args.index("--role") + 1]
    return None


class Workload:
    """One container running Obol, as the render gives it."""

    def __init__(self, obj: Obj, container: Obj, role: str) -> None:
        self.obj = obj
        self.spec = obj["spec"]["template"]["spec"]
        self.container = container
        self.role = role
        self.env: dict[str, str] = {}
        self.args: list[str] = list(container.get("args") or [])
        self.ports = {p.get("name", str(p["containerPort"])): p["containerPort"]
                      for p in container.get("ports") or []}
        self.labels = obj["spec"]["template"].get("metadata", {}).get("labels", {})

    @property
    def ref(self) -> str:
        return f"{self.obj['kind']}/{name_of(self.obj)}"

    @property
    def pod_name(self) -> str:
        return f"{name_of(self.obj)}-live-0"

    def identity(self) -> dict[str, Any]:
        """subprocess's user, group and extra_groups for the pod's securityContext (the
        image's USER 65532 when it sets none); empty when this check is not root and so
        cannot take another identity."""
        if os.geteuid() != 0:
            return {}
        pod = self.spec.get("securityContext") or {}
        sc = self.container.get("securityContext") or {}
        uid = sc.get("runAsUser", pod.get("runAsUser", 65532))
        gid = sc.get("runAsGroup", pod.get("runAsGroup", 65532))
        groups = ([pod["fsGroup"]] if "fsGroup" in pod else []) + list(pod.get("supplementalGroups") or [])
        return {"user": uid, "group": gid, "extra_groups": groups}


def expand(value: str, env: dict[str, str]) -> str:
    """Kubernetes' `$(VAR)` expansion of an env value ($$ escapes; unknown names stay)."""
    def one(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, value)


def container_env(w: Workload, objs: list[Obj]) -> tuple[dict[str, str], list[str]]:
    """The container's environment as the kubelet builds it: envFrom in order, then env
    (which wins), `$(VAR)` expanded, valueFrom resolved. A secretKeyRef becomes
    `secret:<name>/<key>` for the mapping to fill in."""
    env: dict[str, str] = {}
    problems = []
    for source in w.container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "configMapRef" in source:
            ref = source["configMapRef"]
            cms = find(objs, "ConfigMap", ref["name"])
            if not cms:
                if not ref.get("optional"):
                    problems.append(f"envFrom names the ConfigMap {ref['name']}, which is not "
                                    "rendered (the pod would not start)")
                continue
            env.update({prefix + k: str(v) for k, v in (cms[0].get("data") or {}).items()})
        else:
            problems.append(f"envFrom {source}: only ConfigMaps can be mapped here")
    for var in w.container.get("env") or []:
        name = var["name"]
        if "value" in var:
            env[name] = expand(str(var["value"]), env)
            continue
        source = var.get("valueFrom") or {}
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cms = find(objs, "ConfigMap", ref["name"])
            data = (cms[0].get("data") or {}) if cms else {}
            if ref["key"] in data:
                env[name] = str(data[ref["key"]])
            elif not ref.get("optional"):
                problems.append(f"{name}: configMapKeyRef {ref['name']}/{ref['key']} is not rendered")
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            env[name] = f"secret:{ref['name']}/{ref['key']}"
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            fields = {"metadata.name": w.pod_name,
                      "metadata.namespace": w.obj["metadata"].get("namespace", "default"),
                      "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                      "spec.nodeName": "localhost",
                      "spec.serviceAccountName": w.spec.get("serviceAccountName", "default")}
            if path not in fields:
                problems.append(f"{name}: fieldRef {path} cannot be mapped here")
            else:
                env[name] = fields[path]
        else:
            problems.append(f"{name}: valueFrom {source} cannot be mapped here")
    return env, problems


# -- small helpers --------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cmd(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
            timeout: float = 30, stdin: str | None = None,
            identity: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False, **(identity or {}))


def carries_localhost(pem: Path) -> bool:
    """Whether the certificate has the subjectAltName dNSName `localhost` (DER: [2] 9
    "localhost")."""
    body = "".join(line for line in pem.read_text().splitlines() if not line.startswith("-----"))
    return b"\x82\x09localhost" in base64.b64decode(body)


def others_can_run(path: Path) -> bool:
    """Whether a user other than the owner may run `path` (every directory up to it
    searchable, the file executable, by others)."""
    path = path.resolve()
    return bool(path.stat().st_mode & 0o001) and all(
        parent.stat().st_mode & 0o001 for parent in path.parents)


def tail(text: str, lines: int = 12) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def psql(sql: str) -> subprocess.CompletedProcess[str]:
    return run_cmd(["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-d", "postgres",
                    "-v", "ON_ERROR_STOP=1", "-qAtc", sql], timeout=20)


def http(method: str, url: str, body: Obj | None = None, headers: dict[str, str] | None = None,
         timeout: float = 5) -> tuple[int, str]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def wait_for(what: str, fn: Callable[[], Any], timeout: float, every: float = 0.2) -> Any:
    """Calls fn until it returns something true (returned) or the timeout passes (Failed
    with its last answer or error)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            result = fn()
            if result:
                return result
            last = result
        except Exception as error:  # noqa: BLE001 (kept as the last answer)
            last = f"{type(error).__name__}: {error}"
        if time.monotonic() > deadline:
            raise Failed(f"{what}: not within {timeout:.0f}s (last: {last})")
        time.sleep(every)


# -- grpc.health.v1 by hand: HTTP/2 with prior knowledge, as the kubelet's gRPC probe --------

def _hpack_int(value: int, prefix: int, first: int) -> bytes:
    top = (1 << prefix) - 1
    if value < top:
        return bytes([first | value])
    out = [first | top]
    value -= top
    while value >= 128:
        out.append((value & 127) | 128)
        value >>= 7
    out.append(value)
    return bytes(out)


def _hpack_str(text: str) -> bytes:
    raw = text.encode()
    return _hpack_int(len(raw), 7, 0) + raw


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 127
        n >>= 7
        out.append(byte | (128 if n else 0))
        if not n:
            return bytes(out)


def grpc_health(port: int, service: str = "", timeout: float = 2.0) -> str:
    """A grpc.health.v1.Health/Check on 127.0.0.1:port over plaintext HTTP/2: the serving
    status's name, or what went wrong."""
    def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
        return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

    # HPACK, static table only, no Huffman: :method POST (3), :scheme http (6), then
    # literals without indexing for :path (4), :authority (1), content-type (31), te.
    headers = (b"\x83\x86"
               + _hpack_int(4, 4, 0) + _hpack_str("/grpc.health.v1.Health/Check")
               + _hpack_int(1, 4, 0) + _hpack_str(f"127.0.0.1:{port}")
               + _hpack_int(31, 4, 0) + _hpack_str("application/grpc")
               + b"\x00" + _hpack_str("te") + _hpack_str("trailers"))
    message = (b"\x0a" + _varint(len(service.encode())) + service.encode()) if service else b""
    body = b"\x00" + struct.pack(">I", len(message)) + message
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
                     + frame(1, 0x4, 1, headers) + frame(0, 0x1, 1, body))
        buffer = b""

        def read(n: int) -> bytes:
            nonlocal buffer
            while len(buffer) < n:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("the server closed the connection")
                buffer += chunk
            out, buffer = buffer[:n], buffer[n:]
            return out

        data = b""
        while True:
            head = read(9)
            length = int.from_bytes(head[:3], "big")
            kind, flags = head[3], head[4]
            stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
            payload = read(length)
            if kind == 4 and not flags & 1:
                sock.sendall(frame(4, 1, 0))  # SETTINGS ack
            elif kind == 6 and not flags & 1:
                sock.sendall(frame(6, 1, 0, payload))  # PING ack
            elif kind == 7:
                return f"GOAWAY (error {int.from_bytes(payload[4:8], 'big')})"
            elif stream == 1 and kind == 3:
                return f"RST_STREAM (error {int.from_bytes(payload[:4], 'big')})"
            elif stream == 1 and kind == 0:
                if flags & 0x8:  # padded
                    payload = payload[1:len(payload) - payload[0]]
                data += payload
            if stream == 1 and kind in (0, 1) and flags & 0x1:
                break
    if len(data) < 5:
        return "no HealthCheckResponse (a gRPC error status in the trailers)"
    message = data[5:5 + int.from_bytes(data[1:5], "big")]
    status = 0
    if message[:1] == b"\x08":
        status = message[1]
    return {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}.get(status, str(status))


# -- the check ------------------------------------------------------------------------------

class Live:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="obol-live-"))
        self.tmp.chmod(0o755)  # the servers run as the pods' user, not root
        self.bin = Path(os.environ.get("OBOL_BIN") or Path(
            os.environ.get("CARGO_TARGET_DIR", "/var/tmp/obol-target")) / "debug" / "obol")
        self.objs: list[Obj] = []
        self.workloads: dict[str, Workload] = {}
        # (role, container port) -> the local port standing in for it.
        self.ports: dict[tuple[str, int], int] = {}
        self.env: dict[str, dict[str, str]] = {}
        self.roots: dict[str, Path] = {}
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, tuple[Path, Path]] = {}
        self.database_created = False
        self.prometheus: subprocess.Popen[bytes] | None = None
        self.stripe: subprocess.Popen[bytes] | None = None
        self.prometheus_url = ""
        self.alert_names: list[str] = []
        self.payment_id = ""
        self.started_at: dict[str, float] = {}
        # (role, mount path) -> [local directory, what it holds, variables reading it]
        self.volumes: dict[tuple[str, str], list[Any]] = {}
        self.issued: dict[str, str] = {}
        self.migrate_log = ""
        self.kek = ""
        self.up_at = datetime.min.replace(tzinfo=timezone.utc)

    # 0. the binary

    def check_binary(self) -> tuple[list[str], str]:
        if not self.bin.is_file() or not os.access(self.bin, os.X_OK):
            return [f"no server binary at {self.bin}: build it (cargo build -p obol-server), or "
                    "point OBOL_BIN at one built from this tree"], ""
        for tool in ("psql", "prometheus", "promtool"):
            if shutil.which(tool) is None:
                return [f"{tool} is not on PATH (apt-get install postgresql-client prometheus)"], ""
        version = run_cmd([str(self.bin), "--version"], env={"PATH": PATH}).stdout.strip()
        note = ""
        if os.geteuid() == 0 and not others_can_run(self.bin):
            # The servers run as the pods' user: give them a copy they can run, as the
            # image's /obol.
            copy = self.tmp / "obol"
            shutil.copy(self.bin, copy)
            copy.chmod(0o755)
            self.bin = copy
            note = f"; copied to {copy} (the pods' user cannot reach the original)"
        return [], f"{self.bin} ({version}), {shutil.which('prometheus')}{note}"

    # 1. the render

    def check_render(self) -> tuple[list[str], str]:
        import pykustomize  # noqa: PLC0415 (a missing tool is this step's failure)
        import yaml  # noqa: PLC0415

        result = asyncio.run(pykustomize.build(str(OVERLAY)))
        self.objs = [d for d in yaml.safe_load_all(result.yaml) if d]
        problems = []
        for obj in self.objs:
            if obj.get("kind") not in ("Deployment", "Job"):
                continue
            for c in obj["spec"]["template"]["spec"].get("containers") or []:
                role = role_of(c)
                if role is None:
                    continue
                if role in self.workloads:
                    problems.append(f"two workloads run {role}: {self.workloads[role].ref} and "
                                    f"{obj['kind']}/{name_of(obj)}")
                    continue
                w = Workload(obj, c, role)
                w.env, env_problems = container_env(w, self.objs)
                problems += [f"{w.ref}: {p}" for p in env_problems]
                self.workloads[role] = w
        for role in ROLES + ("migrate",):
            w = self.workloads.get(role)
            want = "Job" if role == "migrate" else "Deployment"
            if w is None or w.obj["kind"] != want:
                problems.append(f"no {want} runs the {role} role")
            elif role != "migrate" and name_of(w.obj) != f"obol-{role}":
                problems.append(f"{w.ref} runs {role}; expected obol-{role}")
        found = ", ".join(f"{w.ref} ({' '.join(w.args)}, {len(w.env)} variables)"
                          for w in self.workloads.values())
        return problems, f"{OVERLAY.relative_to(ROOT)}: {len(self.objs)} objects; {found}"

    # 2. the mapping

    def local_port(self, role: str, container_port: int) -> int:
        key = (role, container_port)
        if key not in self.ports:
            self.ports[key] = free_port()
        return self.ports[key]

    def service_target(self, service: Obj, port: int | str) -> tuple[str, int] | None:
        """(role, container port) a Service's port (by number or name) leads to."""
        ports = service["spec"].get("ports") or []
        sp = next((p for p in ports if p["port"] == port or p.get("name") == port), None)
        if sp is None:
            return None
        target = sp.get("targetPort", sp["port"])
        for role in ROLES:
            w = self.workloads.get(role)
            if w and labels_match(service["spec"].get("selector") or {}, w.labels):
                number = w.ports.get(target) if isinstance(target, str) else target
                if number in w.ports.values():
                    return role, number
        return None

    def volume_dir(self, w: Workload, mount: Obj) -> Path:
        """A local stand-in for the volume behind `mount`, made once per workload and
        volume, with the files Kubernetes would put there (noted in self.volumes)."""
        root = self.tmp / "volumes" / w.role / mount["name"]
        if root.exists():
            return root
        volume = next((v for v in w.spec.get("volumes") or [] if v["name"] == mount["name"]), None)
        if volume is None:
            raise Failed(f"{w.ref}: the mount {mount['mountPath']} names no volume {mount['name']}")
        root.mkdir(parents=True)
        note = self.volumes.setdefault((w.role, mount["mountPath"]), [root, "", []])
        if "emptyDir" in volume:
            note[1] = "emptyDir"
            return root
        if "secret" in volume:
            name = volume["secret"]["secretName"]
            cert = next((c for c in find(self.objs, "Certificate")
                         if c["spec"]["secretName"] == name), None)
            if cert is not None:
                files = self.certificate_files(cert)
                source = f"Secret {name} of Certificate {name_of(cert)}, from `{self.issued[name_of(cert)]}`"
            else:
                files = self.secret_files(name)
                source = f"Secret {name}, test values"
            items = volume["secret"].get("items")
            wanted = {i["path"]: i["key"] for i in items} if items else {k: k for k in files}
            for path, key in wanted.items():
                if key not in files:
                    raise Failed(f"{w.ref}: {source} has no key {key} to stand in for")
                dest = root / path
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(files[key])
                # As the kubelet leaves them: root's, defaultMode; with an fsGroup, that
                # group's and group-readable too (its ownership pass on read-only volumes).
                mode = volume["secret"].get("defaultMode", 0o644) & 0o777
                fs_group = (w.spec.get("securityContext") or {}).get("fsGroup")
                if fs_group is not None and os.geteuid() == 0:
                    os.chown(dest, 0, fs_group)
                    mode |= 0o440
                dest.chmod(mode)
            note[1] = f"{source}; files {', '.join(sorted(wanted))}"
            return root
        if "configMap" in volume:
            cms = find(self.objs, "ConfigMap", volume["configMap"]["name"])
            if not cms:
                raise Failed(f"{w.ref}: the ConfigMap {volume['configMap']['name']} is not rendered")
            for key, value in (cms[0].get("data") or {}).items():
                (root / key).write_text(value)
            note[1] = f"ConfigMap {volume['configMap']['name']}"
            return root
        raise Failed(f"{w.ref}: the volume {mount['name']} ({sorted(volume)}) cannot be mapped")

    def certificate_files(self, cert: Obj) -> dict[str, bytes]:
        """cert-manager's tls.crt, tls.key and ca.crt for `cert`, issued by `obol certs` with
        the Certificate's dnsNames (its first as the name), and localhost, which the mapped
        URLs name (`obol certs issue` adds it itself; asked for only if it did not)."""
        certs = self.tmp / "certs"
        if not (certs / "ca.pem").exists():
            self.obol(["certs", "init", "--dir", str(certs)])
        names = list(cert["spec"].get("dnsNames") or [])
        if not names:
            raise Failed(f"Certificate {name_of(cert)} has no dnsNames")
        if not (certs / f"{names[0]}.pem").exists():
            for extra in (names[1:], names[1:] + ["localhost"]):
                command = ["certs", "issue", names[0]] + (["--dns", ",".join(extra)] if extra else [])
                self.obol(command + ["--dir", str(certs)])
                if carries_localhost(certs / f"{names[0]}.pem"):
                    break
            self.issued[name_of(cert)] = "obol " + " ".join(command)
        return {"tls.crt": (certs / f"{names[0]}.pem").read_bytes(),
                "tls.key": (certs / f"{names[0]}-key.pem").read_bytes(),
                "ca.crt": (certs / "ca.pem").read_bytes()}

    def secret_files(self, name: str) -> dict[str, bytes]:
        """Test values for the keys the ExternalSecret `name` makes."""
        es = next((e for e in find(self.objs, "ExternalSecret")
                   if (e["spec"].get("target", {}).get("name") or name_of(e)) == name), None)
        if es is None:
            raise Failed(f"the Secret {name} is made by nothing rendered; no values to stand in")
        values = {}
        for item in es["spec"].get("data") or []:
            key = item["secretKey"]
            if key == "database-url":
                value = f"postgres://{PG_USER}@{PG_HOST}:{PG_PORT}/{DATABASE}"
            elif key == "key-encryption-key":
                value = self.kek
            elif key in TEST_SECRETS:
                value = TEST_SECRETS[key]
            else:
                raise Failed(f"ExternalSecret {name_of(es)}: no test value for the key {key}")
            # As a mounted secret file from Vault through ESO: the value, no newline.
            values[key] = value.encode()
        return values

    def obol(self, args: list[str], env: dict[str, str] | None = None,
             cwd: Path | None = None, identity: dict[str, Any] | None = None) -> str:
        run = run_cmd([str(self.bin)] + args, env={"PATH": PATH, "HOME": str(self.tmp), **(env or {})},
                      cwd=cwd or self.tmp, identity=identity)
        if run.returncode != 0:
            raise Failed(f"obol {' '.join(args)} exited {run.returncode}: {tail(run.stderr or run.stdout)}")
        return run.stdout

    def map_value(self, w: Workload, name: str, value: str, log: list[str]) -> str:
        """The value of `name` on this machine (logged when it changes)."""
        if value.startswith("secret:"):
            secret, key = value[len("secret:"):].split("/", 1)
            files = self.secret_files(secret)
            if key not in files:
                raise Failed(f"{w.ref}: {name} reads {secret}/{key}, which has no such key")
            log.append(f"{w.role}: {name} (secretKeyRef {secret}/{key}) -> test value")
            return files[key].decode()
        listen = re.fullmatch(r"(0\.0\.0\.0|\[::\]|):(\d+)", value)
        if listen:
            port = int(listen.group(2))
            if port not in w.ports.values():
                raise Failed(f"{w.ref}: {name}={value} opens no container port")
            new = f"127.0.0.1:{self.local_port(w.role, port)}"
            log.append(f"{w.role}: {name} {value} -> {new}")
            return new
        if re.fullmatch(r"[\w.-]+:\d+", value) and not value.startswith(("127.", "localhost")):
            raise Failed(f"{w.ref}: {name}={value}: a host:port this check cannot map (it maps "
                         "listeners on 0.0.0.0:P or [::]:P, and URLs naming a Service)")
        parts = urllib.parse.urlsplit(value)
        if parts.scheme in ("http", "https", "grpc", "grpcs") and parts.hostname:
            host = parts.hostname
            namespace = None
            m = re.fullmatch(r"([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.cluster\.local)?)?)?", host)
            services = []
            if m:
                namespace = m.group(2)
                services = [s for s in find(self.objs, "Service", m.group(1))
                            if namespace is None or s["metadata"].get("namespace") == namespace]
            if services:
                default = 443 if parts.scheme in ("https", "grpcs") else 80
                target = self.service_target(services[0], parts.port or default)
                if target is None:
                    raise Failed(f"{w.ref}: {name}={value}: Service {host} has no port "
                                 f"{parts.port or default} leading to a container port")
                role, cport = target
                new = value.replace(parts.netloc, f"localhost:{self.local_port(role, cport)}", 1)
                log.append(f"{w.role}: {name} {value} -> {new} (the {role} role's port {cport}; "
                           "its certificate carries localhost, the name the gateway checks)")
                return new
            if host.endswith((".svc", ".cluster.local", ".internal")) or "." not in host:
                raise Failed(f"{w.ref}: {name}={value} names {host}, which is no rendered "
                             "Service and does not resolve here")
            return value  # a public URL (a return URL), unchanged
        if value.startswith("/"):
            mounts = sorted(w.container.get("volumeMounts") or [],
                            key=lambda m: len(m["mountPath"]), reverse=True)
            mount = next((m for m in mounts
                          if value == m["mountPath"] or value.startswith(m["mountPath"].rstrip("/") + "/")), None)
            if mount is None:
                raise Failed(f"{w.ref}: {name}={value} is on no volume mount (a path in the "
                             "image, which this check cannot stand in for)")
            root = self.volume_dir(w, mount)
            new = str(root / value[len(mount["mountPath"]):].lstrip("/"))
            if not Path(new).exists():
                raise Failed(f"{w.ref}: {name}={value}: the volume {mount['name']} has no such "
                             "file (it would be missing in the pod too)")
            self.volumes[(w.role, mount["mountPath"])][2].append(name)
            return new
        return value

    def check_map(self, log: list[str]) -> tuple[list[str], str]:
        self.kek = self.obol(["keys", "kek"]).strip()
        problems = []
        for role in ENGINE_ROLES + ("gateway", "migrate"):
            w = self.workloads[role]
            env = {}
            for name, value in w.env.items():
                try:
                    env[name] = self.map_value(w, name, value, log)
                except Failed as failed:
                    problems += failed.problems
            # Every file the container mounts exists, read or not (as in the pod).
            for mount in w.container.get("volumeMounts") or []:
                try:
                    self.volume_dir(w, mount)
                except Failed as failed:
                    problems += failed.problems
            for (r, path), (root, what, readers) in self.volumes.items():
                if r == role:
                    log.append(f"{role}: {path}/ ({what}) -> {root}/"
                               + (f"; read by {', '.join(readers)}" if readers else ""))
            root = self.tmp / "roots" / role
            root.mkdir(parents=True)
            root.chmod(0o555)  # the image's working directory, on a read-only root filesystem
            self.roots[role] = root
            who = w.identity()
            log.append(f"{role}: runs as " + (f"uid {who['user']}, gid {who['group']}, groups "
                                              f"{who['extra_groups']} (the pod's securityContext)"
                                              if who else "this user (not root: cannot take the "
                                              "pod's uid)") + f", in {root} (read-only, as HOME too)")
            self.env[role] = {"PATH": PATH, "HOME": str(root), "HOSTNAME": w.pod_name,
                              **KUBELET_ENV, **env}
        kept = sum(1 for role in self.env for name in self.workloads[role].env
                   if self.env[role].get(name) == self.workloads[role].env[name])
        changed = sum(len(self.workloads[r].env) for r in self.env) - kept
        return problems, (f"{changed} values mapped, {kept} kept as rendered; database "
                          f"{DATABASE} on {PG_HOST}:{PG_PORT}")

    def check_providers(self, log: list[str]) -> tuple[list[str], str]:
        """The rails the payments role is given. Card payments in Stripe's currencies (USD
        among them) go to Stripe, and card details only to the tokenizer routing picks
        (core/obol-core/src/tenant/payments.rs): with Stripe's API out of reach the sandbox
        card is answered 503 provider_unavailable. So Stripe's API is mapped to localstripe
        on loopback (OBOL_STRIPE_API_BASE, the one variable this check adds), its webhooks
        signed with the test whsec_ and sent to the gateway's /webhooks/stripe. PayPal is
        called for wallet payments only: its rendered settings are kept as they are."""
        env = self.env["payments"]
        rails = sorted({k.split("_")[1] for k in env if k.startswith(("OBOL_STRIPE_", "OBOL_PAYPAL_"))})
        if "STRIPE" not in rails or "OBOL_STRIPE_API_BASE" in env:
            return [], f"rails configured: {', '.join(rails) or 'sandbox only'}; nothing to stand in for"
        try:
            import localstripe  # noqa: F401, PLC0415
        except ImportError:
            return [f"the payments role is given Stripe, whose API this machine cannot reach, and "
                    f"localstripe (the stand-in) is not installed for {sys.executable}: run "
                    "bash deploy/checks/install-tools"], ""
        secret = (Path(env["OBOL_STRIPE_WEBHOOK_SECRET_FILE"]).read_text().strip()
                  if "OBOL_STRIPE_WEBHOOK_SECRET_FILE" in env else env.get("OBOL_STRIPE_WEBHOOK_SECRET", ""))
        webhook = f"http://{self.env['gateway']['OBOL_HTTP_ADDR']}/webhooks/stripe"
        with open(self.tmp / "localstripe.log", "wb") as err:
            # Serves until its stdin closes (cleanup() ends it either way).
            self.stripe = subprocess.Popen(
                [sys.executable, str(LOCALSTRIPE), "--webhook-url", webhook, "--webhook-secret", secret],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                start_new_session=True, cwd=self.tmp)
        assert self.stripe.stdout is not None
        ready, _, _ = select.select([self.stripe.stdout], [], [], START_TIMEOUT)
        line = self.stripe.stdout.readline().decode().strip() if ready else ""
        if not line.startswith("listening "):
            return [f"localstripe did not start: {line or 'no answer'} "
                    f"{tail((self.tmp / 'localstripe.log').read_text(errors='replace'))}"], ""
        base = f"http://127.0.0.1:{line.split()[1]}"
        env["OBOL_STRIPE_API_BASE"] = base
        log.append(f"payments: + OBOL_STRIPE_API_BASE={base} (localstripe standing in for "
                   "api.stripe.com; webhooks to the gateway's /webhooks/stripe)")
        log.append("payments: OBOL_PAYPAL_* kept (PayPal's sandbox is not called for card "
                   "payments; the server asks nothing of it at start)")
        return [], f"rails configured: {', '.join(rails)}; Stripe's API -> {base}"

    # 3. migrate and start

    def check_database(self) -> tuple[list[str], str]:
        ready = psql("SELECT 1")
        if ready.returncode != 0:
            return [f"PostgreSQL at {PG_HOST}:{PG_PORT} (user {PG_USER}) does not answer: "
                    f"{tail(ready.stderr)}"], ""
        made = psql(f"CREATE DATABASE {DATABASE}")
        if made.returncode != 0:
            return [f"cannot create {DATABASE}: {tail(made.stderr)}"], ""
        self.database_created = True
        return [], f"created {DATABASE}"

    def check_migrate(self) -> tuple[list[str], str]:
        w = self.workloads["migrate"]
        run = run_cmd([str(self.bin)] + w.args, env=self.env["migrate"], cwd=self.roots["migrate"],
                      timeout=60, identity=w.identity())
        self.migrate_log = run.stderr
        if run.returncode != 0:
            return [f"{w.ref}: obol {' '.join(w.args)} exited {run.returncode}:",
                    tail(run.stderr or run.stdout)], ""
        return [], f"{w.ref}: obol {' '.join(w.args)}: {run.stdout.strip().splitlines()[-1]}"

    def start(self, role: str) -> None:
        w = self.workloads[role]
        out, err = self.tmp / f"{role}.stdout", self.tmp / f"{role}.stderr"
        self.logs[role] = (out, err)
        with open(out, "wb") as o, open(err, "wb") as e:
            self.processes[role] = subprocess.Popen(
                [str(self.bin)] + w.args, env=self.env[role], cwd=self.roots[role],
                stdout=o, stderr=e, stdin=subprocess.DEVNULL, start_new_session=True,
                **w.identity())
        self.started_at[role] = time.monotonic()

    def banner(self, role: str) -> str:
        """The banner once it names every mapped listener; Failed if the process ended."""
        process = self.processes[role]
        out, err = self.logs[role]
        text = out.read_text(errors="replace")
        listeners = [v for k, v in self.env[role].items() if k.endswith("_ADDR")]
        if listeners and all(addr in text for addr in listeners):
            return text
        if process.poll() is not None:
            raise Failed(f"{role}: exited {process.returncode} before its banner: "
                         f"{tail(err.read_text(errors='replace'))}")
        return ""

    def check_start(self, roles: tuple[str, ...]) -> tuple[list[str], str]:
        for role in roles:
            self.start(role)
        problems, shown = [], []
        for role in roles:
            try:
                wait_for(f"{role}'s banner", lambda role=role: self.banner(role), START_TIMEOUT, 0.05)
            except Failed as failed:
                problems += failed.problems
                continue
            took = time.monotonic() - self.started_at[role]
            first = self.logs[role][0].read_text().strip().splitlines()[0]
            shown.append(f"{role} {took:.1f}s ({first.strip()})")
        return problems, "; ".join(shown)

    # 4. probes and a payment

    def check_probes(self) -> tuple[list[str], str]:
        problems, passed = [], []
        for role in ROLES:
            w = self.workloads[role]
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                probe = w.container.get(kind)
                if probe is None:
                    continue
                start = time.monotonic()
                try:
                    what = self.probe(w, probe)
                except Failed as failed:
                    problems += [f"{w.ref} {kind}: {p}" for p in failed.problems]
                    continue
                passed.append(f"{role} {kind[:-5]} {what} ({time.monotonic() - start:.1f}s)")
        return problems, f"{len(passed)} probes pass: " + ", ".join(passed)

    def probe(self, w: Workload, probe: Obj) -> str:
        for action in ("httpGet", "grpc", "tcpSocket"):
            if action in probe:
                spec = probe[action]
                break
        else:
            raise Failed(f"{sorted(probe)}: only httpGet, grpc and tcpSocket probes can be asked here")
        port = spec.get("port")
        number = w.ports.get(port) if isinstance(port, str) else port
        if (w.role, number) not in self.ports:
            raise Failed(f"port {port}: no listener of this role opens it (no setting maps to it)")
        local = self.ports[(w.role, number)]
        if action == "httpGet":
            if spec.get("scheme", "HTTP") != "HTTP":
                raise Failed(f"scheme {spec['scheme']}: only HTTP can be asked here")
            url = f"http://127.0.0.1:{local}{spec.get('path', '/')}"
            headers = {h["name"]: h["value"] for h in spec.get("httpHeaders") or []}
            wait_for(f"GET {spec.get('path')} on {port} (:{local}) answering 200",
                     lambda: http("GET", url, headers=headers, timeout=2)[0] == 200, PROBE_TIMEOUT)
            return f"GET {spec.get('path')} :{local} 200"
        if action == "grpc":
            service = spec.get("service", "")
            last = ""

            def serving() -> bool:
                nonlocal last
                last = grpc_health(local, service)
                return last == "SERVING"
            try:
                wait_for(f"grpc.health.v1 Check({service!r}) on port {port} (:{local})", serving,
                         PROBE_TIMEOUT)
            except Failed as failed:
                raise Failed(f"{failed} (answer: {last or 'none'})") from None
            return f"gRPC :{local} SERVING"
        wait_for(f"TCP {port} (:{local})",
                 lambda: socket.create_connection(("127.0.0.1", local), timeout=2).close() or True,
                 PROBE_TIMEOUT)
        return f"TCP :{local}"

    def gateway_url(self) -> str:
        w = self.workloads["gateway"]
        addr = self.env["gateway"]["OBOL_HTTP_ADDR"]
        if not addr.startswith("127.0.0.1:"):
            raise Failed(f"{w.ref}: OBOL_HTTP_ADDR {addr} was not mapped to a loopback port")
        return f"http://{addr}"

    def check_payment(self) -> tuple[list[str], str]:
        # `obol users create` as an operator would run it in the cluster: a one-off pod with
        # the migration Job's environment (the key-encryption key and the database).
        email = "ops@example.test"
        created = self.obol(["users", "create", "--email", email],
                            env={**self.env["migrate"], "OBOL_NEW_USER_PASSWORD": PASSWORD},
                            cwd=self.roots["migrate"],
                            identity=self.workloads["migrate"].identity()).strip()
        base = self.gateway_url()
        status, body = http("POST", f"{base}/v1/auth/login", {"email": email, "password": PASSWORD},
                            headers={"idempotency-key": "live-login-1"})
        if status != 200:
            return [f"POST /v1/auth/login: {status} {body[:500]}"], ""
        token = json.loads(body).get("access_token")
        if not token:
            return [f"POST /v1/auth/login: no access_token in {body[:500]}"], ""
        payment = {"amount": "1250", "asset": "USD", "confirm": True,
                   "payment_method": {"card": {"number": "4242424242424242", "exp_month": 12,
                                               "exp_year": 2030, "cvc": "123"}}}
        key = f"live-check-{os.getpid()}"
        status, body = http("POST", f"{base}/v1/payments", payment, timeout=20,
                            headers={"authorization": f"Bearer {token}", "idempotency-key": key})
        try:
            answer = json.loads(body)
        except json.JSONDecodeError:
            answer = {}
        state = (answer.get("state") or {}).get("status", answer.get("status"))
        if status != 201 or state != "succeeded":
            return [f"POST /v1/payments: {status}, status {state!r}: {body[:800]}"], ""
        self.payment_id = answer.get("id", "?")
        provider = answer.get("provider")
        return [], (f"{created}; login 200; POST /v1/payments 201 {self.payment_id} succeeded"
                    + (f" (provider {provider})" if provider else ""))

    # 5. Prometheus

    def scrape_configs(self, log: list[str]) -> tuple[list[Obj], list[str]]:
        """One scrape job per ServiceMonitor endpoint and Service, as the Prometheus Operator
        writes them (job_name serviceMonitor/<ns>/<name>/<i>, `job` = the Service's name or
        its jobLabel), at 1s."""
        configs, problems = [], []
        for sm in find(self.objs, "ServiceMonitor"):
            ns = sm["metadata"].get("namespace", "default")
            selector = sm["spec"].get("selector", {}).get("matchLabels") or {}
            names = (sm["spec"].get("namespaceSelector") or {}).get("matchNames") or [ns]
            services = [s for s in find(self.objs, "Service")
                        if s["metadata"].get("namespace") in names
                        and labels_match(selector, s["metadata"].get("labels") or {})]
            if not services:
                problems.append(f"ServiceMonitor/{name_of(sm)} selects no Service")
            for i, endpoint in enumerate(sm["spec"].get("endpoints") or []):
                targets = []
                for svc in services:
                    port = endpoint.get("port") or endpoint.get("targetPort")
                    target = self.service_target(svc, port)
                    if target is None or target not in self.ports:
                        problems.append(f"ServiceMonitor/{name_of(sm)}: Service {name_of(svc)} "
                                        f"port {port} leads to no listener of a role")
                        continue
                    role, cport = target
                    job = (svc["metadata"].get("labels") or {}).get(sm["spec"].get("jobLabel", ""), name_of(svc))
                    local = self.ports[target]
                    targets.append({"targets": [f"127.0.0.1:{local}"],
                                    "labels": {"namespace": svc["metadata"].get("namespace", ns),
                                               "service": name_of(svc), "endpoint": str(port),
                                               "pod": self.workloads[role].pod_name,
                                               "container": self.workloads[role].container["name"],
                                               "__job": job}})
                    log.append(f"scrape {job}: Service {name_of(svc)} port {port} -> {role} "
                               f"{cport} -> 127.0.0.1:{local}{endpoint.get('path', '/metrics')} "
                               f"(every 1s; the ServiceMonitor says {endpoint.get('interval', '30s')})")
                for group in targets:
                    job = group["labels"].pop("__job")
                    configs.append({
                        "job_name": f"serviceMonitor/{ns}/{name_of(sm)}/{i}/{job}",
                        "honor_labels": bool(endpoint.get("honorLabels", False)),
                        "scrape_interval": "1s",
                        "scrape_timeout": "1s",
                        "metrics_path": endpoint.get("path", "/metrics"),
                        "scheme": endpoint.get("scheme", "http").lower(),
                        "static_configs": [group],
                        "relabel_configs": [{"target_label": "job", "replacement": job}],
                    })
        return configs, problems

    def check_prometheus(self, log: list[str]) -> tuple[list[str], str]:
        import yaml  # noqa: PLC0415

        configs, problems = self.scrape_configs(log)
        rule_files = []
        for rule in find(self.objs, "PrometheusRule"):
            path = self.tmp / "prometheus" / f"{name_of(rule)}.rules.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
            rule_files.append(str(path))
            self.alert_names += [r["alert"] for g in rule["spec"]["groups"]
                                 for r in g["rules"] if "alert" in r]
        if not rule_files:
            problems.append("no PrometheusRule is rendered")
        if problems:
            return problems, ""
        config = self.tmp / "prometheus" / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "external_labels": {"prometheus": "monitoring/live-check"}},
            "rule_files": rule_files,
            "scrape_configs": configs}, sort_keys=False))
        checked = run_cmd(["promtool", "check", "config", str(config)])
        if checked.returncode != 0:
            return [f"promtool check config: {tail(checked.stdout + checked.stderr)}"], ""
        port = free_port()
        self.prometheus_url = f"http://127.0.0.1:{port}"
        log_path = self.tmp / "prometheus.log"
        with open(log_path, "wb") as out:
            self.prometheus = subprocess.Popen(
                ["prometheus", f"--config.file={config}",
                 f"--storage.tsdb.path={self.tmp / 'prometheus' / 'data'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True, cwd=self.tmp)
        start = time.monotonic()

        def all_up() -> Any:
            if self.prometheus is not None and self.prometheus.poll() is not None:
                raise Failed(f"prometheus exited {self.prometheus.returncode}: "
                             f"{tail(log_path.read_text(errors='replace'))}")
            targets = self.api("targets")["activeTargets"]
            states = {t["labels"]["job"]: (t["health"], t.get("lastError", "")) for t in targets}
            if len(targets) == len(configs) and all(h == "up" for h, _ in states.values()):
                return states
            return {job: f"{h} {e}".strip() for job, (h, e) in states.items()} and None

        try:
            states = wait_for("every target up (/api/v1/targets)", all_up, PROMETHEUS_TIMEOUT)
        except Failed as failed:
            targets = self.api("targets")["activeTargets"] if self.prometheus.poll() is None else []
            return failed.problems + [f"{t['labels'].get('job')}: {t['health']} {t.get('lastError', '')}"
                                      for t in targets], ""
        self.up_at = datetime.now(timezone.utc)
        return [], (f"{len(states)} targets up after {time.monotonic() - start:.1f}s "
                    f"(jobs {', '.join(sorted(states))}); {len(self.alert_names)} alerts from "
                    f"{len(rule_files)} PrometheusRule")

    def api(self, path: str, **params: str) -> Any:
        query = ("?" + urllib.parse.urlencode(params)) if params else ""
        status, body = http("GET", f"{self.prometheus_url}/api/v1/{path}{query}", timeout=5)
        answer = json.loads(body)
        if status != 200 or answer.get("status") != "success":
            raise Failed(f"/api/v1/{path}{query}: {status} {body[:300]}")
        return answer["data"]

    def query(self, expr: str) -> list[Obj]:
        return self.api("query", query=expr)["result"]

    def check_metrics(self) -> tuple[list[str], str]:
        problems, found = [], []
        imbalance = self.query('obol_ledger_imbalance{asset="USD"}')
        if not imbalance:
            problems.append('obol_ledger_imbalance{asset="USD"}: no series (the payment made USD '
                            "accounts; the audit is read at most every 15s)")
        for series in imbalance:
            if float(series["value"][1]) != 0:
                problems.append(f"obol_ledger_imbalance {series['metric']} = {series['value'][1]}")
        jobs = sorted({s["metric"].get("job", "?") for s in imbalance})
        found.append(f"obol_ledger_imbalance{{asset=USD}}: {len(imbalance)} series = 0 ({', '.join(jobs)})")
        requests = self.query('obol_http_requests_total{job="obol-gateway",method="POST",status="201"}')
        paid = [s for s in requests if "payments" in s["metric"].get("route", "")]
        if not paid:
            problems.append("obol_http_requests_total has no POST 201 on the payments route from "
                            f"obol-gateway (series: {[s['metric'] for s in requests]})")
        else:
            found.append(f"obol_http_requests_total{{route={paid[0]['metric'].get('route')!r},"
                         f"method=POST,status=201}} = {paid[0]['value'][1]}")
        # Stripe's webhook for the payment (localstripe signs it with the test whsec_), through
        # the gateway to the payments role: refused would be a finding; it may also not have
        # arrived yet.
        hooks = [s for s in self.query('obol_http_requests_total{job="obol-gateway",method="POST"}')
                 if s["metric"].get("route", "").startswith("/webhooks")]
        refused = [s for s in hooks if not s["metric"].get("status", "").startswith("2")]
        for s in refused:
            problems.append(f"provider webhook refused through the gateway: {s['metric']}")
        found.append("webhooks: " + (", ".join(f"POST {s['metric'].get('route')} "
                                               f"{s['metric'].get('status')} x{s['value'][1]}"
                                               for s in hooks) or "none arrived yet"))
        pending = self.query("obol_webhook_deliveries_pending")
        if not pending:
            problems.append("obol_webhook_deliveries_pending: no series")
        else:
            found.append("obol_webhook_deliveries_pending: "
                         + ", ".join(f"{s['metric'].get('job')} {s['value'][1]}" for s in pending))
        return problems, "; ".join(found)

    def check_rules(self, log: list[str]) -> tuple[list[str], str]:
        def evaluated() -> Any:
            groups = self.api("rules")["groups"]
            if groups and all(parse_time(g.get("lastEvaluation")) > self.up_at for g in groups):
                return groups
            return None

        groups = wait_for("every rule group evaluated after the targets came up", evaluated,
                          PROMETHEUS_TIMEOUT)
        rules = {r["name"]: r for g in groups for r in g["rules"] if r["type"] == "alerting"}
        problems = []
        for name in self.alert_names:
            rule = rules.get(name)
            if rule is None:
                problems.append(f"{name}: not loaded (/api/v1/rules)")
            elif rule.get("health") != "ok":
                problems.append(f"{name}: health {rule.get('health')}: {rule.get('lastError')}")
        active = [a for a in self.api("alerts")["alerts"] if a["state"] in ("pending", "firing")]
        for alert in active:
            name = alert["labels"].get("alertname", "?")
            where = ", ".join(f"{k}={v}" for k, v in alert["labels"].items()
                              if k not in ("alertname", "severity", "prometheus"))
            if name in EXPECTED_ALERTS:
                log.append(f"{alert['state']} {name} ({where}): expected here: {EXPECTED_ALERTS[name]}")
            else:
                problems.append(f"{alert['state']} {name} ({where}) value {alert.get('value')}: "
                                "its condition should not hold in a healthy deployment")
        # Which alerts have nothing to look at here (a metric with no series at all).
        present = {s["metric"]["__name__"] for s in self.query('count by (__name__) ({__name__=~".+"})')}
        blind: dict[tuple[str, ...], list[str]] = {}
        for name, rule in rules.items():
            missing = tuple(sorted(metric_names(rule["query"]) - present))
            if missing:
                blind.setdefault(missing, []).append(name)
        for missing, names in sorted(blind.items()):
            log.append(f"no series here for {', '.join(missing)}: {', '.join(sorted(names))} "
                       "cannot fire in this run")
        states = {r["name"]: r["state"] for r in rules.values()}
        counts = {s: sum(1 for v in states.values() if v == s) for s in sorted(set(states.values()))}
        return problems, (f"{len(rules)} alerts loaded, health ok, evaluated every 1s; states: "
                          + ", ".join(f"{n} {s}" for s, n in counts.items()))

    # 6. stop and clean up

    def check_stop(self, log: list[str]) -> tuple[list[str], str]:
        """SIGTERM, as the kubelet sends after preStop: the gateway first, then the services;
        each must exit 0 and have written nothing in its working directory."""
        problems, shown = [], []
        for role in ("gateway",) + ENGINE_ROLES:
            process = self.processes.pop(role, None)
            if process is None:
                continue
            start = time.monotonic()
            if process.poll() is not None:
                problems.append(f"{role}: had already exited {process.returncode}: "
                                f"{tail(self.logs[role][1].read_text(errors='replace'))}")
                continue
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                problems.append(f"{role}: still running {STOP_TIMEOUT:.0f}s after SIGTERM")
                continue
            if code != 0:
                problems.append(f"{role}: exited {code} on SIGTERM: "
                                f"{tail(self.logs[role][1].read_text(errors='replace'), 5)}")
            shown.append(f"{role} {time.monotonic() - start:.1f}s")
        for role, root in self.roots.items():
            written = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
            if written:
                problems.append(f"{role}: wrote {written} in its working directory (the pod's "
                                "root filesystem is read-only)")
        # OBOL_LOG_FORMAT=json: every line on stderr is one JSON object (the log pipeline's
        # contract); warnings and errors are shown.
        lines = warnings = 0
        for role, text in [(r, self.logs[r][1].read_text(errors="replace")) for r in self.logs] + \
                [("migrate", self.migrate_log)]:
            for line in text.splitlines():
                lines += 1
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    problems.append(f"{role}: a log line that is not JSON: {line[:200]}")
                    continue
                if record.get("level") in ("WARN", "ERROR"):
                    warnings += 1
                    log.append(f"{role} logged {record['level']}: "
                               f"{json.dumps(record.get('fields', record))[:300]}")
        return problems, ("exit 0 on SIGTERM: " + ", ".join(shown) + "; nothing written in the "
                          f"working directories; {lines} log lines, all JSON, {warnings} "
                          "warnings or errors")

    def cleanup(self) -> tuple[list[str], str]:
        problems, done = [], []
        everything = list(self.processes.values()) + [p for p in (self.prometheus, self.stripe) if p]
        for process in everything:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 5
        for process in everything:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()
        self.processes.clear()
        self.prometheus = self.stripe = None
        done.append(f"{len(everything)} processes stopped")
        if self.database_created:
            dropped = psql(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            if dropped.returncode != 0:
                problems.append(f"cannot drop {DATABASE}: {tail(dropped.stderr)}")
            else:
                self.database_created = False
                done.append(f"{DATABASE} dropped")
        if os.environ.get("OBOL_LIVE_KEEP"):  # to read the logs and configuration afterwards
            return problems, ", ".join(done + [f"{self.tmp} kept (OBOL_LIVE_KEEP)"])
        shutil.rmtree(self.tmp, ignore_errors=True)
        if self.tmp.exists():
            problems.append(f"cannot remove {self.tmp}")
        return problems, ", ".join(done + [f"{self.tmp} removed"])


PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (a scanner, as observability.sh's)."""
    e = re.sub(r"\"(?:\\.|[^\"\\])*\"|'(?:\\.|[^'\\])*'", '""', expr)
    e = re.sub(r"\{[^}]*\}", "", e)
    e = re.sub(r"\[[^\]]*\]", "", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", e)
    names = set()
    for m in re.finditer(r"\d+(?:\.\d+)?(?:[eE][+-]?\d+)?[a-zA-Z]*|[a-zA-Z_:][a-zA-Z0-9_:]*", e):
        token = m.group(0)
        if token[0].isdigit() or token.lower() in PROMQL_WORDS or re.match(r"\s*\(", e[m.end():]):
            continue
        names.add(token)
    return names


def parse_time(text: str | None) -> datetime:
    if not text:
        return datetime.min.replace(tzinfo=timezone.utc)
    text = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("Z", "+00:00"))
    return datetime.fromisoformat(text)


def main() -> int:
    failed = 0
    total_start = time.monotonic()

    def run(name: str, fn: Callable[..., tuple[list[str], str]], takes_log: bool = False) -> bool:
        nonlocal failed
        start = time.monotonic()
        log: list[str] = []
        try:
            problems, detail = fn(log) if takes_log else fn()
        except Failed as error:
            problems, detail = error.problems, ""
        except Exception:  # a crashed step fails, with its trace
            problems, detail = [traceback.format_exc().rstrip()], ""
        took = time.monotonic() - start
        status = "ok  " if not problems else "FAIL"
        print(f"{status} live: {name}: {detail or f'{len(problems)} problem(s)'} [{took:.1f}s]",
              flush=True)
        for line in log:
            print(f"       {line}")
        for problem in problems:
            print("       " + problem.replace("\n", "\n         "))
        failed += bool(problems)
        return not problems

    # SIGTERM (a CI runner's timeout) cleans up as Ctrl-C does.
    def interrupted(*_: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    live = Live()
    try:
        steps: list[tuple[str, Callable[..., tuple[list[str], str]], bool]] = [
            ("server binary and tools", live.check_binary, False),
            ("render dev (workloads, environment)", live.check_render, False),
            ("map the cluster to this machine", live.check_map, True),
            ("payment rails (Stripe's API)", live.check_providers, True),
            ("database", live.check_database, False),
            ("migration Job", live.check_migrate, False),
            ("start payments, ledger, auth", lambda: live.check_start(ENGINE_ROLES), False),
            ("start gateway", lambda: live.check_start(("gateway",)), False),
            ("kubelet probes", live.check_probes, False),
            ("payment through the gateway", live.check_payment, False),
            ("Prometheus scrapes every role", live.check_prometheus, True),
            ("metrics", live.check_metrics, False),
            ("alert rules and alerts", live.check_rules, True),
        ]
        for i, (name, fn, takes_log) in enumerate(steps):
            if not run(name, fn, takes_log):
                later = [n for n, _, _ in steps[i + 1:]]
                if later:
                    print(f"       not run: {', '.join(later)}")
                break
        if live.processes:
            run("graceful stop", live.check_stop, True)
    except KeyboardInterrupt:
        print("FAIL live: interrupted", flush=True)
        failed += 1
    finally:
        start = time.monotonic()
        problems, done = live.cleanup()
        status = "ok  " if not problems else "FAIL"
        print(f"{status} live: clean up: {done} [{time.monotonic() - start:.1f}s]")
        for problem in problems:
            print(f"       {problem}")
        failed += bool(problems)
    print(f"live: {'passed' if not failed else f'{failed} step(s) failed'} in "
          f"{time.monotonic() - total_start:.1f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
