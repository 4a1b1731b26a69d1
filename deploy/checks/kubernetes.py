#!/usr/bin/env python3
"""Checks the Kubernetes deployment offline: renders every overlay with real kustomize
(pykustomize), validates each object's schema (kubernetes-validate; a hand-written subset of
each CRD's schema for the operators' kinds), cross-checks the server's contract (settings,
ports, probes, certificates, secrets, NetworkPolicies, security contexts), then runs checkov
on the rendered manifests and the Dockerfile, and hadolint on the Dockerfile.

One line per check; exit status 1 if any fails. Run through deploy/check, after
deploy/checks/install-tools (the pinned tools are in its venv).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
OVERLAYS_DIR = DEPLOY / "k8s" / "overlays"
DOCKERFILE = DEPLOY / "Dockerfile"
SERVER_CONFIG = ROOT / "server" / "src" / "config.rs"

NAMESPACE = "obol"
# The Ingress host in base/, which every overlay replaces with its own.
BASE_HOST = "obol.example.com"
# The oldest Kubernetes the manifests are for (the kubelet's preStop sleep action is on by
# default from 1.30) and the newest kubernetes-validate 1.37.0 knows.
K8S_VERSIONS = ("1.30", "1.37")
ROLES = ("gateway", "payments", "ledger", "auth")
ENGINE_ROLES = ("payments", "ledger", "auth")
UID = 65532
# Where each listener setting's port must be opened, by container port name.
ADDR_PORTS = {
    "OBOL_HTTP_ADDR": "http",
    "OBOL_OPS_ADDR": "http",
    "OBOL_GRPC_ADDR": "grpc",
    "OBOL_GRPC_HEALTH_ADDR": "grpc-health",
}
# The gateway's service URLs, by the role they must reach.
URL_ROLES = {"OBOL_PAYMENTS_URL": "payments", "OBOL_LEDGER_URL": "ledger", "OBOL_AUTH_URL": "auth"}
# Settings that are secrets: they must arrive as files (OBOL_<NAME>_FILE), never as values.
SECRET_SETTINGS = {
    "KEY_ENCRYPTION_KEY",
    "DATABASE_URL",
    "SANDBOX_WEBHOOK_SECRET",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "PAYPAL_CLIENT_ID",
    "PAYPAL_CLIENT_SECRET",
    "PAYPAL_WEBHOOK_ID",
}
# The fields of [providers.stripe] and [providers.paypal] without a default (config.rs's
# StripeSettings and PayPalSettings): a rail with one set needs them all.
RAIL_REQUIRED = {
    "STRIPE": {"SECRET_KEY", "WEBHOOK_SECRET", "RETURN_URL"},
    "PAYPAL": {"CLIENT_ID", "CLIENT_SECRET", "WEBHOOK_ID", "RETURN_URL"},
}
# What each role must be given, beyond OBOL_LOG_FORMAT (every role) and, for the gRPC
# roles, the setting of their HTTP listener (ops_setting()).
ROLE_REQUIRED = {
    "gateway": {"HTTP_ADDR", "TLS_CERT", "TLS_KEY", "TLS_CA", "PAYMENTS_URL", "LEDGER_URL",
                "AUTH_URL", "TRUSTED_PROXIES"},
    "payments": {"GRPC_ADDR", "GRPC_HEALTH_ADDR", "TLS_CERT", "TLS_KEY", "TLS_CA",
                 "KEY_ENCRYPTION_KEY", "DATABASE_URL", "TRUSTED_CALLERS"},
    "migrate": {"KEY_ENCRYPTION_KEY", "DATABASE_URL"},
}
ROLE_REQUIRED["ledger"] = ROLE_REQUIRED["auth"] = ROLE_REQUIRED["payments"]
ROLE_FORBIDDEN = {
    # config.rs refuses these on the gateway; it holds no secret but its TLS key.
    "gateway": {"GRPC_HEALTH_ADDR", "OPS_ADDR"} | SECRET_SETTINGS,
    "migrate": set(),
}


# -- helpers --------------------------------------------------------------------------------

Obj = dict[str, Any]


def name_of(obj: Obj) -> str:
    return obj.get("metadata", {}).get("name", "?")


def ref(obj: Obj) -> str:
    return f"{obj.get('kind')}/{name_of(obj)}"


def find(objs: list[Obj], kind: str, name: str | None = None) -> list[Obj]:
    return [o for o in objs if o.get("kind") == kind and (name is None or name_of(o) == name)]


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A label selector (matchLabels and matchExpressions) against labels."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def pod_spec(obj: Obj) -> Obj | None:
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"):
        return obj["spec"]["template"]["spec"]
    if obj.get("kind") == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return None


def pod_labels(obj: Obj) -> dict[str, str]:
    return obj["spec"]["template"].get("metadata", {}).get("labels", {})


def workloads(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objs:
        spec = pod_spec(obj)
        if spec is not None:
            yield obj, spec


def containers(spec: Obj) -> list[Obj]:
    return list(spec.get("initContainers") or []) + list(spec.get("containers") or [])


def container_ports(container: Obj) -> dict[str, int]:
    """Named ports; unnamed ones under their number."""
    return {p.get("name", str(p["containerPort"])): p["containerPort"]
            for p in container.get("ports") or []}


def role_of(container: Obj) -> str | None:
    """The Obol role a container runs, from its arguments."""
    args = list(container.get("args") or [])
    if args[:1] == ["migrate"]:
        return "migrate"
    if args[:1] == ["serve"]:
        return args[args.index("--role") + 1] if "--role" in args else "all"
    return None


def obol_containers(objs: list[Obj]) -> Iterator[tuple[Obj, Obj, Obj, str]]:
    """(workload, pod spec, container, role) for every container running Obol."""
    for obj, spec in workloads(objs):
        for c in containers(spec):
            role = role_of(c)
            if role is not None:
                yield obj, spec, c, role


def env_of(container: Obj, objs: list[Obj]) -> tuple[dict[str, Any], list[str]]:
    """A container's environment: envFrom ConfigMaps, then env (which wins). Values from a
    secretKeyRef show as {'secretKeyRef': …}. Also returns the problems met on the way."""
    env: dict[str, Any] = {}
    problems = []
    for source in container.get("envFrom") or []:
        if "configMapRef" in source:
            cm_name = source["configMapRef"]["name"]
            cms = find(objs, "ConfigMap", cm_name)
            if not cms:
                problems.append(f"envFrom names the ConfigMap {cm_name}, which is not rendered")
                continue
            env.update({source.get("prefix", "") + k: v for k, v in (cms[0].get("data") or {}).items()})
        else:
            problems.append(f"envFrom {source}: only ConfigMaps are expected (secrets come as files)")
    for var in container.get("env") or []:
        env[var["name"]] = var["value"] if "value" in var else var.get("valueFrom")
    return env, problems


def mounted_file(spec: Obj, container: Obj, path: str) -> tuple[Obj, str] | None:
    """The volume and the file inside it that `path` names in `container`."""
    best = None
    for mount in container.get("volumeMounts") or []:
        root = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(root) and (best is None or len(root) > len(best[0])):
            best = (root, mount)
    if best is None:
        return None
    root, mount = best
    volume = next((v for v in spec.get("volumes") or [] if v["name"] == mount["name"]), None)
    if volume is None:
        return None
    return volume, path[len(root):]


def secret_volume_files(volume: Obj) -> tuple[str, dict[str, str] | None]:
    """(Secret name, {file: key}) of a secret volume; None when every key is mounted."""
    secret = volume["secret"]
    items = secret.get("items")
    if items is None:
        return secret["secretName"], None
    return secret["secretName"], {i["path"]: i["key"] for i in items}


def secret_producers(objs: list[Obj]) -> dict[str, tuple[Obj, set[str] | None]]:
    """Secrets the render makes appear: {name: (maker, keys or None if unknown)}."""
    made: dict[str, tuple[Obj, set[str] | None]] = {}
    for cert in find(objs, "Certificate"):
        made[cert["spec"]["secretName"]] = (cert, {"tls.crt", "tls.key", "ca.crt"})
    for es in find(objs, "ExternalSecret"):
        target = es["spec"].get("target", {}).get("name") or name_of(es)
        keys = {d["secretKey"] for d in es["spec"].get("data") or []}
        template_keys = set((es["spec"].get("target", {}).get("template") or {}).get("data", {}) or {})
        made[target] = (es, keys | template_keys if not es["spec"].get("dataFrom") else None)
    for secret in find(objs, "Secret"):
        made[name_of(secret)] = (secret, set(secret.get("data") or {}) | set(secret.get("stringData") or {}))
    return made


def image_tag(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return last.split("@", 1)[1]
    return last.split(":", 1)[1] if ":" in last else ""


# -- server settings, read from the server's own source -------------------------------------

@functools.lru_cache(maxsize=None)
def server_settings() -> frozenset[str]:
    """The OBOL_* setting names the server knows (config.rs: KEYS and PROVIDER_KEYS)."""
    text = SERVER_CONFIG.read_text()
    names = set()
    for table in ("KEYS", "PROVIDER_KEYS"):
        block = re.search(rf"const {table}: [^=]*= &\[(.*?)\n\];", text, re.S)
        if block is None:
            raise RuntimeError(f"{SERVER_CONFIG.relative_to(ROOT)} has no {table} table")
        names |= {n.upper() for n in re.findall(r'\(\s*"([a-z0-9_]+)",', block.group(1))}
    # Variables that are not settings but the server reads (OTHER_VARS).
    return frozenset(names | {"CONFIG", "LOG"})


def ops_setting() -> str:
    """The setting a gRPC role's /healthz, /readyz and /metrics listener takes: OPS_ADDR
    while the server has it (config.rs: the gateway and all-in-one serve them on HTTP_ADDR,
    a gRPC role on OPS_ADDR, and ignores HTTP_ADDR), else HTTP_ADDR."""
    return "OPS_ADDR" if "OPS_ADDR" in server_settings() else "HTTP_ADDR"


# -- CRD schemas: the subset of each operator's CRD that these manifests use ---------------
# kubernetes-validate ships only Kubernetes' own schemas and takes no others, so the
# operators' kinds are checked here with jsonschema: types, enums and required fields as the
# CRDs declare them, unknown fields refused where the manifests write (typos fail). A field
# the manifests start to use must be added here.

STR: Obj = {"type": "string"}
INT: Obj = {"type": "integer"}
BOOL: Obj = {"type": "boolean"}
OBJ: Obj = {"type": "object"}
ANY: Obj = {}
GO_DURATION: Obj = {"type": "string", "pattern": r"^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$"}
PROM_DURATION: Obj = {"type": "string", "pattern": r"^(0|([0-9]+(y|w|d|h|m|s|ms))+)$"}


def obj(props: Obj, required: tuple[str, ...] = (), extra: Obj | bool = False) -> Obj:
    schema: Obj = {"type": "object", "properties": props, "additionalProperties": extra}
    if required:
        schema["required"] = list(required)
    return schema


def arr(items: Obj) -> Obj:
    return {"type": "array", "items": items}


def enum(*values: str) -> Obj:
    return {"type": "string", "enum": list(values)}


def loose(*names: str) -> Obj:
    """Fields the CRD has that these manifests do not use: any value."""
    return {n: ANY for n in names}


QUANTITY: Obj = {"type": ["string", "integer", "number"]}
RESOURCES = obj({"requests": {"type": "object", "additionalProperties": QUANTITY},
                 "limits": {"type": "object", "additionalProperties": QUANTITY},
                 "claims": arr(OBJ)})
NAME_REF = obj({"name": STR}, ("name",))

USAGES = enum("signing", "digital signature", "content commitment", "key encipherment",
              "key agreement", "data encipherment", "cert sign", "crl sign", "encipher only",
              "decipher only", "any", "server auth", "client auth", "code signing",
              "email protection", "s/mime", "ipsec end system", "ipsec tunnel", "ipsec user",
              "timestamping", "ocsp signing", "microsoft sgc", "netscape sgc")
CERTIFICATE = obj({
    "secretName": STR,
    "issuerRef": obj({"name": STR, "kind": STR, "group": STR}, ("name",)),
    "dnsNames": arr(STR), "ipAddresses": arr(STR), "uris": arr(STR), "emailAddresses": arr(STR),
    "commonName": STR, "isCA": BOOL, "duration": GO_DURATION, "renewBefore": GO_DURATION,
    "renewBeforePercentage": INT, "usages": arr(USAGES),
    "privateKey": obj({"algorithm": enum("RSA", "ECDSA", "Ed25519"), "size": INT,
                       "encoding": enum("PKCS1", "PKCS8"),
                       "rotationPolicy": enum("Never", "Always")}),
    "secretTemplate": obj({"annotations": OBJ, "labels": OBJ}),
    "revisionHistoryLimit": INT,
    **loose("subject", "keystores", "literalSubject", "nameConstraints", "otherNames",
            "additionalOutputFormats", "encodeUsagesInRequest", "signatureAlgorithm"),
}, ("secretName", "issuerRef"))
ACME_SOLVER = obj({
    "selector": OBJ,
    "http01": obj({"ingress": obj({"ingressClassName": STR, "class": STR, "name": STR,
                                   "serviceType": STR, "podTemplate": OBJ,
                                   "ingressTemplate": OBJ}),
                   "gatewayHTTPRoute": OBJ}),
    "dns01": OBJ,
})
ISSUER = {
    **obj({
        "selfSigned": obj({"crlDistributionPoints": arr(STR)}),
        "ca": obj({"secretName": STR, "crlDistributionPoints": arr(STR), "ocspServers": arr(STR),
                   "issuingCertificateURLs": arr(STR)}, ("secretName",)),
        "acme": obj({"server": STR, "email": STR,
                     "privateKeySecretRef": obj({"name": STR, "key": STR}, ("name",)),
                     "solvers": arr(ACME_SOLVER),
                     **loose("skipTLSVerify", "preferredChain", "disableAccountKeyGeneration",
                             "enableDurationFeature", "externalAccountBinding", "caBundle",
                             "profile")},
                    ("server", "privateKeySecretRef")),
        **loose("vault", "venafi"),
    }),
    "minProperties": 1,
    "maxProperties": 1,
}
VAULT_PROVIDER = obj({
    "server": STR, "path": STR, "version": enum("v1", "v2"), "namespace": STR,
    "auth": obj({
        "kubernetes": obj({"mountPath": STR, "role": STR,
                           "serviceAccountRef": obj({"name": STR, "namespace": STR,
                                                     "audiences": arr(STR)}, ("name",)),
                           "secretRef": OBJ}, ("mountPath", "role")),
        **loose("tokenSecretRef", "appRole", "jwt", "cert", "iam", "ldap", "userPass",
                "namespace", "gcp"),
    }),
    **loose("caBundle", "caProvider", "readYourWrites", "forwardInconsistent", "headers", "tls",
            "checkAndSet"),
}, ("server",))
SECRET_STORE = obj({
    # Another provider than Vault is an object, unchecked.
    "provider": {**obj({"vault": VAULT_PROVIDER}, extra=OBJ), "minProperties": 1,
                 "maxProperties": 1},
    **loose("controller", "refreshInterval", "retrySettings", "conditions"),
}, ("provider",))
EXTERNAL_SECRET = obj({
    "secretStoreRef": obj({"name": STR, "kind": enum("SecretStore", "ClusterSecretStore")}),
    "target": obj({
        "name": STR, "creationPolicy": enum("Owner", "Orphan", "Merge", "None"),
        "deletionPolicy": enum("Delete", "Merge", "Retain"), "immutable": BOOL,
        "template": obj({"type": STR, "engineVersion": enum("v1", "v2"),
                         "mergePolicy": enum("Replace", "Merge"), "metadata": OBJ, "data": OBJ,
                         "templateFrom": arr(OBJ)}),
        **loose("manifest"),
    }),
    "refreshInterval": GO_DURATION,
    "refreshPolicy": enum("CreatedOnce", "Periodic", "OnChange"),
    "data": arr(obj({
        "secretKey": {"type": "string", "pattern": r"^[-._a-zA-Z0-9]+$"},
        "remoteRef": obj({"key": STR, "property": STR, "version": STR,
                          "conversionStrategy": enum("Default", "Unicode"),
                          "decodingStrategy": enum("Auto", "Base64", "Base64URL", "None"),
                          "metadataPolicy": enum("None", "Fetch")}, ("key",)),
        "sourceRef": OBJ,
    }, ("secretKey", "remoteRef"))),
    "dataFrom": arr(OBJ),
})
CNPG_STORAGE = obj({"size": STR, "storageClass": STR, "resizeInUseVolumes": BOOL,
                    "pvcTemplate": OBJ})
CNPG_CLUSTER = obj({
    "instances": {"type": "integer", "minimum": 1},
    "imageName": STR,
    "primaryUpdateStrategy": enum("unsupervised", "supervised"),
    "primaryUpdateMethod": enum("switchover", "restart"),
    "storage": CNPG_STORAGE,
    "walStorage": CNPG_STORAGE,
    "resources": RESOURCES,
    "postgresql": obj({
        "parameters": {"type": "object", "additionalProperties": STR},
        "synchronous": obj({"method": enum("any", "first"), "number": INT,
                            "dataDurability": enum("required", "preferred"),
                            **loose("maxStandbyNamesFromCluster", "standbyNamesPre",
                                    "standbyNamesPost", "failoverQuorum")},
                           ("method", "number")),
        **loose("pg_hba", "pg_ident", "shared_preload_libraries", "ldap", "promotionTimeout",
                "enableAlterSystem", "syncReplicaElectionConstraint", "extensions"),
    }),
    "affinity": obj({"enablePodAntiAffinity": BOOL, "topologyKey": STR,
                     "podAntiAffinityType": enum("preferred", "required"),
                     **loose("nodeSelector", "nodeAffinity", "tolerations",
                             "additionalPodAffinity", "additionalPodAntiAffinity")}),
    "monitoring": obj({"enablePodMonitor": BOOL,
                       **loose("customQueriesConfigMap", "customQueriesSecret",
                               "disableDefaultQueries", "podMonitorMetricRelabelings",
                               "podMonitorRelabelings", "tls", "metricsQueriesTTL")}),
    "bootstrap": obj({
        "initdb": obj({"database": STR, "owner": STR, "secret": NAME_REF,
                       **loose("encoding", "localeCollate", "localeCType", "locale",
                               "localeProvider", "icuLocale", "icuRules", "builtinLocale",
                               "dataChecksums", "walSegmentSize", "options", "postInitSQL",
                               "postInitApplicationSQL", "postInitTemplateSQL",
                               "postInitSQLRefs", "postInitApplicationSQLRefs",
                               "postInitTemplateSQLRefs", "import")}),
        **loose("recovery", "pg_basebackup"),
    }),
    **loose("backup", "certificates", "description", "enablePDB", "enableSuperuserAccess",
            "env", "envFrom", "ephemeralVolumeSource", "ephemeralVolumesSizeLimit",
            "externalClusters", "failoverDelay", "imageCatalogRef", "imagePullPolicy",
            "imagePullSecrets", "inheritedMetadata", "livenessProbeTimeout", "logLevel",
            "managed", "maxSyncReplicas", "minSyncReplicas", "nodeMaintenanceWindow", "plugins",
            "postgresGID", "postgresUID", "priorityClassName", "probes",
            "projectedVolumeTemplate", "replica", "replicationSlots", "schedulerName",
            "seccompProfile", "serviceAccountTemplate", "smartShutdownTimeout", "startDelay",
            "stopDelay", "superuserSecret", "switchoverDelay", "tablespaces",
            "topologySpreadConstraints", "podSecurityContext", "securityContext"),
}, ("instances",))
# Prometheus Operator kinds (written by deploy/k8s/base/monitoring): the fields Prometheus
# needs, other fields allowed.
SCRAPE_ENDPOINT = {"type": "object", "properties": {
    "port": STR, "targetPort": {"type": ["string", "integer"]}, "path": STR,
    "scheme": enum("http", "https", "HTTP", "HTTPS"), "interval": PROM_DURATION,
    "scrapeTimeout": PROM_DURATION, "honorLabels": BOOL}}
SERVICE_MONITOR = {"type": "object", "required": ["selector"], "properties": {
    "selector": OBJ, "endpoints": arr(SCRAPE_ENDPOINT), "jobLabel": STR, "namespaceSelector": OBJ}}
POD_MONITOR = {"type": "object", "required": ["selector"], "properties": {
    "selector": OBJ, "podMetricsEndpoints": arr(SCRAPE_ENDPOINT)}}
RULE = {"type": "object", "required": ["expr"], "properties": {
    "alert": STR, "record": STR, "expr": {"type": ["string", "integer"]}, "for": PROM_DURATION,
    "labels": {"type": "object", "additionalProperties": STR},
    "annotations": {"type": "object", "additionalProperties": STR}},
    "oneOf": [{"required": ["alert"]}, {"required": ["record"]}]}
PROMETHEUS_RULE = {"type": "object", "required": ["groups"], "properties": {"groups": arr({
    "type": "object", "required": ["name", "rules"],
    "properties": {"name": STR, "interval": PROM_DURATION, "rules": arr(RULE)}})}}

CRD_SPECS: dict[tuple[str, str], Obj] = {
    ("cert-manager.io/v1", "Certificate"): CERTIFICATE,
    ("cert-manager.io/v1", "Issuer"): ISSUER,
    ("cert-manager.io/v1", "ClusterIssuer"): ISSUER,
    ("external-secrets.io/v1", "SecretStore"): SECRET_STORE,
    ("external-secrets.io/v1", "ClusterSecretStore"): SECRET_STORE,
    ("external-secrets.io/v1", "ExternalSecret"): EXTERNAL_SECRET,
    ("postgresql.cnpg.io/v1", "Cluster"): CNPG_CLUSTER,
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
}
# Cluster-scoped kinds (no namespace); every other kind must be in `obol`.
CLUSTER_SCOPED = {"Namespace", "ClusterIssuer", "ClusterSecretStore", "ClusterRole",
                  "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass",
                  "StorageClass", "IngressClass"}


def crd_schema(spec_schema: Obj, cluster_scoped: bool) -> Obj:
    metadata = {"type": "object", "required": ["name"], "properties": {"name": STR}}
    if not cluster_scoped:
        metadata["required"].append("namespace")
    return {"type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
            "properties": {"apiVersion": STR, "kind": STR, "metadata": metadata,
                           "spec": spec_schema, "status": OBJ},
            "additionalProperties": False}


# -- the checks -----------------------------------------------------------------------------

class Rendered:
    def __init__(self) -> None:
        self.yaml: dict[str, str] = {}
        self.objects: dict[str, list[Obj]] = {}


def check_render(r: Rendered) -> tuple[list[str], str]:
    import pykustomize  # noqa: PLC0415 (a missing tool is this check's failure)
    import yaml  # noqa: PLC0415

    overlays = sorted(p for p in OVERLAYS_DIR.iterdir() if (p / "kustomization.yaml").exists())
    problems = []
    if not overlays:
        return [f"no overlays under {OVERLAYS_DIR.relative_to(ROOT)}"], ""
    for path in overlays:
        try:
            result = asyncio.run(pykustomize.build(str(path)))
        except Exception as error:  # kustomize's own message
            problems.append(f"{path.name}: {error}")
            continue
        # BuildResult.yaml is the whole multi-document stream (BuildResult.documents splits
        # it on every '---', even inside a value, so it is parsed here instead).
        r.yaml[path.name] = result.yaml
        r.objects[path.name] = [d for d in yaml.safe_load_all(result.yaml) if d]
    # A component no overlay uses (an installation opts in) is rendered on top of staging, so
    # it is checked like the rest.
    used = {Path(c).name for p in overlays
            for c in (yaml.safe_load((p / "kustomization.yaml").read_text()).get("components") or [])}
    for component in sorted((DEPLOY / "k8s" / "components").iterdir()):
        if component.name in used:
            continue
        name = f"staging+{component.name}"
        with tempfile.TemporaryDirectory(dir=DEPLOY / "k8s", prefix=".render-") as tmp:
            (Path(tmp) / "kustomization.yaml").write_text(
                "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
                "resources:\n  - ../overlays/staging\n"
                f"components:\n  - ../components/{component.name}\n")
            try:
                result = asyncio.run(pykustomize.build(tmp))
            except Exception as error:  # kustomize's own message
                problems.append(f"{name}: {error}")
                continue
        r.yaml[name] = result.yaml
        r.objects[name] = [d for d in yaml.safe_load_all(result.yaml) if d]
    counts = ", ".join(f"{n} {len(o)}" for n, o in r.objects.items())
    return problems, f"{len(r.objects)} renders ({counts} objects), kustomize via pykustomize"


def check_schemas(r: Rendered) -> tuple[list[str], str]:
    import jsonschema  # noqa: PLC0415
    import kubernetes_validate.utils as kv  # noqa: PLC0415

    # kubernetes-validate reads its schema files anew on every call; they do not change.
    if not hasattr(kv.schema_contents, "cache_info"):
        kv.schema_contents = functools.lru_cache(maxsize=None)(kv.schema_contents)
    problems = []
    builtin = crd = 0
    crd_kinds = set()
    for overlay, objs in r.objects.items():
        for o in objs:
            where = f"{overlay} {ref(o)}"
            key = (o.get("apiVersion", ""), o.get("kind", ""))
            if key in CRD_SPECS:
                schema = crd_schema(CRD_SPECS[key], o["kind"] in CLUSTER_SCOPED)
                errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(o),
                                key=lambda e: list(e.path))
                problems += [f"{where}: {'.'.join(map(str, e.path))}: {e.message}" for e in errors]
                crd += 1
                crd_kinds.add(o["kind"])
                continue
            for version in K8S_VERSIONS:
                try:
                    kv.validate(o, version, strict=True)
                except kv.ValidationError as e:
                    problems.append(f"{where} (Kubernetes {version}): "
                                    f"{'.'.join(map(str, e.path))}: {e.message}")
                except kv.SchemaNotFoundError:
                    problems.append(f"{where}: no schema for {key[0]} {key[1]} in Kubernetes "
                                    f"{version} (nor in this check's CRD table)")
            builtin += 1
    return problems, (f"{builtin} objects against Kubernetes {' and '.join(K8S_VERSIONS)} "
                      f"(strict), {crd} custom resources ({len(crd_kinds)} kinds) against the "
                      "CRD subset table")


def check_settings(r: Rendered) -> tuple[list[str], str]:
    """Environment against the server's settings: known names, secrets as files that exist
    in the ExternalSecret, what each role needs and must not have, listener addresses on
    the container ports."""
    known = server_settings()
    problems = []
    for overlay, objs in r.objects.items():
        made = secret_producers(objs)
        for obj, spec, c, role in obol_containers(objs):
            where = f"{overlay} {ref(obj)}"
            if spec.get("enableServiceLinks") is not False:
                problems.append(f"{where}: enableServiceLinks must be false (Kubernetes would "
                                "inject OBOL_<SERVICE>_SERVICE_HOST and the like, which the "
                                "server refuses as unknown settings)")
            env, env_problems = env_of(c, objs)
            problems += [f"{where}: {p}" for p in env_problems]
            settings: dict[str, Any] = {}
            files: dict[str, str] = {}
            for name, value in env.items():
                if not name.startswith("OBOL_"):
                    continue
                key = name[len("OBOL_"):]
                if key.endswith("_FILE") and key[:-len("_FILE")] in known:
                    key = key[:-len("_FILE")]
                    files[key] = value
                elif key not in known:
                    problems.append(f"{where}: {name} is not a setting of the server "
                                    f"({SERVER_CONFIG.relative_to(ROOT)}), which refuses it")
                    continue
                if key in settings:
                    problems.append(f"{where}: OBOL_{key} is set twice (value and _FILE)")
                settings[key] = value
                if not isinstance(value, str):
                    problems.append(f"{where}: {name} comes from {value}; settings are plain "
                                    "values or, for secrets, _FILE paths to mounted files")
            for key in sorted(SECRET_SETTINGS & set(settings) - set(files)):
                problems.append(f"{where}: the secret OBOL_{key} must come as a file "
                                f"(OBOL_{key}_FILE)")
            # Secret files: mounted from a Secret the render makes, holding that key.
            used_files: dict[str, set[str]] = {}
            for key, path in files.items():
                if not isinstance(path, str):
                    continue
                expected = key.lower().replace("_", "-")
                if Path(path).name != expected:
                    problems.append(f"{where}: OBOL_{key}_FILE is {path}; by the layout of "
                                    f"obol-secrets its file is named {expected}")
                found = mounted_file(spec, c, path)
                if found is None or "secret" not in found[0]:
                    problems.append(f"{where}: OBOL_{key}_FILE={path} is on no mounted Secret")
                    continue
                volume, rel = found
                secret_name, items = secret_volume_files(volume)
                used_files.setdefault(volume["name"], set()).add(rel)
                secret_key = rel if items is None else items.get(rel)
                if secret_key is None:
                    problems.append(f"{where}: {path}: the volume {volume['name']} mounts no "
                                    f"file {rel} (items: {sorted(items or {})})")
                    continue
                maker = made.get(secret_name)
                if maker is None:
                    problems.append(f"{where}: the Secret {secret_name} is made by nothing "
                                    "rendered (ExternalSecret, Certificate)")
                elif maker[1] is not None and secret_key not in maker[1]:
                    problems.append(f"{where}: {ref(maker[0])} makes no key {secret_key} in "
                                    f"{secret_name} (it has {sorted(maker[1])})")
            # Only the keys a role reads are mounted (TLS files apart: read through OBOL_TLS_*).
            for volume in spec.get("volumes") or []:
                if "secret" not in volume or volume["secret"]["secretName"] != "obol-secrets":
                    continue
                _, items = secret_volume_files(volume)
                if items is None:
                    problems.append(f"{where}: the volume {volume['name']} mounts all of "
                                    "obol-secrets; list the keys this role reads (items)")
                    continue
                for extra in sorted(set(items) - used_files.get(volume["name"], set())):
                    problems.append(f"{where}: obol-secrets/{items[extra]} is mounted but "
                                    "no OBOL_*_FILE reads it")
            # TLS: the three files from one cert-manager Secret.
            tls_secrets = set()
            for key, file in (("TLS_CERT", "tls.crt"), ("TLS_KEY", "tls.key"), ("TLS_CA", "ca.crt")):
                path = settings.get(key)
                if path is None:
                    continue
                found = mounted_file(spec, c, path)
                if found is None or "secret" not in found[0]:
                    problems.append(f"{where}: OBOL_{key}={path} is on no mounted Secret")
                    continue
                secret_name, items = secret_volume_files(found[0])
                tls_secrets.add(secret_name)
                if (found[1] if items is None else items.get(found[1])) != file:
                    problems.append(f"{where}: OBOL_{key} must name the Secret's {file}")
                maker = made.get(secret_name)
                if maker is None or maker[0].get("kind") != "Certificate":
                    problems.append(f"{where}: {secret_name} is made by no Certificate")
            if len(tls_secrets) > 1:
                problems.append(f"{where}: the TLS files come from several Secrets {tls_secrets}")
            # What the role needs and must not have.
            needed = {"LOG_FORMAT"} | ROLE_REQUIRED.get(role, set())
            if role in ENGINE_ROLES:
                needed.add(ops_setting())
                # Set, it would be ignored: the ops listener is what opens port 8080.
                if ops_setting() != "HTTP_ADDR" and "HTTP_ADDR" in settings:
                    problems.append(f"{where}: OBOL_HTTP_ADDR does nothing for the {role} role; "
                                    f"its HTTP listener is OBOL_{ops_setting()}")
            for key in sorted(needed - set(settings)):
                problems.append(f"{where}: the {role} role needs OBOL_{key}")
            if settings.get("LOG_FORMAT", "json") != "json":
                problems.append(f"{where}: OBOL_LOG_FORMAT must be json")
            forbidden = ROLE_FORBIDDEN.get(role, set())
            if role != "payments":
                forbidden = forbidden | {k for k in settings if k.startswith(("STRIPE_", "PAYPAL_"))}
            for key in sorted(forbidden & set(settings)):
                problems.append(f"{where}: the {role} role must not be given OBOL_{key}")
            for rail, required in RAIL_REQUIRED.items():
                given = {k[len(rail) + 1:] for k in settings if k.startswith(rail + "_")}
                if given and required - given:
                    problems.append(f"{where}: {rail.lower()} is configured without "
                                    + ", ".join(f"OBOL_{rail}_{k}" for k in sorted(required - given)))
            # Listener addresses open the container's ports, on every interface.
            ports = container_ports(c)
            for key, port_name in ADDR_PORTS.items():
                value = settings.get(key[len("OBOL_"):])
                if value is None:
                    continue
                host, _, port = value.rpartition(":")
                if host not in ("0.0.0.0", "[::]"):
                    problems.append(f"{where}: {key}={value} must listen on 0.0.0.0 or [::]")
                if ports.get(port_name) != int(port or 0):
                    problems.append(f"{where}: {key}={value} but the container port "
                                    f"{port_name} is {ports.get(port_name)}")
    return problems, (f"{len(known)} setting names read from {SERVER_CONFIG.relative_to(ROOT)}; "
                      f"gRPC roles' HTTP listener: OBOL_{ops_setting()}")


def role_workload(objs: list[Obj], role: str) -> tuple[Obj, Obj, Obj] | None:
    for obj, spec, c, r in obol_containers(objs):
        if r == role and obj["kind"] == "Deployment":
            return obj, spec, c
    return None


def certificate_of(objs: list[Obj], spec: Obj, c: Obj) -> Obj | None:
    env, _ = env_of(c, objs)
    path = env.get("OBOL_TLS_CERT")
    found = mounted_file(spec, c, path) if isinstance(path, str) else None
    if found is None or "secret" not in found[0]:
        return None
    secret_name = found[0]["secret"]["secretName"]
    return next((x for x in find(objs, "Certificate") if x["spec"]["secretName"] == secret_name),
                None)


def services_selecting(objs: list[Obj], labels: dict[str, str]) -> list[Obj]:
    return [s for s in find(objs, "Service")
            if s["spec"].get("selector") and selector_matches({"matchLabels": s["spec"]["selector"]}, labels)]


# The server's pool size when OBOL_DATABASE_MAX_CONNECTIONS is unset (obol-postgres).
DEFAULT_POOL = 16
# Connections PostgreSQL keeps for superusers (CloudNativePG's operator and probes).
RESERVED_CONNECTIONS = 3


def check_connection_budget(r: Rendered) -> tuple[list[str], str]:
    """Every Obol process on the database at once (each role at its autoscaler's maximum plus
    a rolling update's surge, and the migration Job) must fit in the database's
    max_connections."""
    problems, details = [], []
    for overlay, objs in r.objects.items():
        clusters = find(objs, "Cluster", "obol-db")
        if not clusters:
            continue
        params = clusters[0]["spec"].get("postgresql", {}).get("parameters", {})
        limit = int(params.get("max_connections", 100)) - RESERVED_CONNECTIONS
        total, parts = 0, []
        for workload, spec, container, role in obol_containers(objs):
            if role == "gateway":
                continue
            env, _ = env_of(container, objs)
            pool = int(env.get("OBOL_DATABASE_MAX_CONNECTIONS", DEFAULT_POOL))
            if workload["kind"] == "Job":
                copies = 1
            else:
                hpas = [h for h in find(objs, "HorizontalPodAutoscaler")
                        if h["spec"]["scaleTargetRef"]["name"] == name_of(workload)]
                copies = hpas[0]["spec"]["maxReplicas"] if hpas else workload["spec"].get("replicas", 1)
                # A rolling update runs the surge's extra pods beside the old ones.
                surge = (workload["spec"].get("strategy", {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
                copies += (-(-copies * int(str(surge)[:-1]) // 100) if str(surge).endswith("%")
                           else int(surge))
            total += copies * pool
            parts.append(f"{role} {copies}x{pool}")
        if total > limit:
            problems.append(f"{overlay}: up to {total} connections ({', '.join(parts)}) but the "
                            f"database allows {limit} (max_connections less {RESERVED_CONNECTIONS} reserved)")
        details.append(f"{overlay} {total}/{limit}")
    return problems, "connections at most / allowed: " + ", ".join(details)


def check_certificates(r: Rendered) -> tuple[list[str], str]:
    """The gateway's URLs name Services that reach the role's gRPC port and whose names the
    role's certificate carries; OBOL_TRUSTED_CALLERS names what the gateway's certificate
    carries; certificates cover their Service's DNS names; issuers exist; public TLS."""
    problems = []
    for overlay, objs in r.objects.items():
        issuers = {name_of(i) for i in find(objs, "Issuer")}
        cluster_issuers = {name_of(i) for i in find(objs, "ClusterIssuer")}
        for cert in find(objs, "Certificate"):
            issuer = cert["spec"]["issuerRef"]
            pool = cluster_issuers if issuer.get("kind") == "ClusterIssuer" else issuers
            if issuer["name"] not in pool:
                problems.append(f"{overlay} {ref(cert)}: its issuer {issuer.get('kind', 'Issuer')}/"
                                f"{issuer['name']} is not rendered")
        for issuer in find(objs, "Issuer") + find(objs, "ClusterIssuer"):
            ca = issuer["spec"].get("ca")
            if ca and not any(c["spec"]["secretName"] == ca["secretName"] and c["spec"].get("isCA")
                              for c in find(objs, "Certificate")):
                problems.append(f"{overlay} {ref(issuer)}: no CA Certificate (isCA) makes "
                                f"{ca['secretName']}")
        role_certs: dict[str, Obj] = {}
        for role in ROLES:
            found = role_workload(objs, role)
            if found is None:
                problems.append(f"{overlay}: no Deployment runs the {role} role")
                continue
            obj, spec, c = found
            cert = certificate_of(objs, spec, c)
            if cert is None:
                problems.append(f"{overlay} {ref(obj)}: its OBOL_TLS_CERT comes from no Certificate")
                continue
            role_certs[role] = cert
            usages = set(cert["spec"].get("usages") or [])
            if not {"server auth", "client auth"} <= usages:
                problems.append(f"{overlay} {ref(cert)}: usages must include server auth and "
                                f"client auth (has {sorted(usages)})")
            key = cert["spec"].get("privateKey") or {}
            if (key.get("algorithm"), key.get("size")) != ("ECDSA", 256):
                problems.append(f"{overlay} {ref(cert)}: the key must be ECDSA P-256")
            if not cert["spec"].get("renewBefore") or not cert["spec"].get("duration"):
                problems.append(f"{overlay} {ref(cert)}: set duration and renewBefore (rotation)")
            names = set(cert["spec"].get("dnsNames") or [])
            for svc in services_selecting(objs, pod_labels(obj)):
                svc_name = name_of(svc)
                ns = svc["metadata"].get("namespace", NAMESPACE)
                for dns in (svc_name, f"{svc_name}.{ns}.svc", f"{svc_name}.{ns}.svc.cluster.local"):
                    if dns not in names:
                        problems.append(f"{overlay} {ref(cert)}: dnsNames lack {dns}")
        if len({json.dumps(c["spec"]["issuerRef"], sort_keys=True) for c in role_certs.values()}) > 1:
            problems.append(f"{overlay}: the roles' certificates come from different issuers "
                            "(each trusts one CA: ca.crt of its own Secret)")
        gateway = role_workload(objs, "gateway")
        if gateway is None or "gateway" not in role_certs:
            continue
        genv, _ = env_of(gateway[2], objs)
        for var, role in URL_ROLES.items():
            url = genv.get(var)
            if not isinstance(url, str):
                continue
            parts = urlsplit(url)
            if parts.scheme != "https":
                problems.append(f"{overlay}: {var}={url} must be https:// (mutual TLS)")
            target = role_workload(objs, role)
            if target is None or role not in role_certs:
                continue
            svc = next((s for s in find(objs, "Service", parts.hostname)), None)
            if svc is None:
                problems.append(f"{overlay}: {var}={url} names no Service {parts.hostname}")
                continue
            if not selector_matches({"matchLabels": svc["spec"].get("selector") or {}},
                                    pod_labels(target[0])):
                problems.append(f"{overlay}: {var}={url}: Service {parts.hostname} does not "
                                f"select the {role} pods")
            port = next((p for p in svc["spec"]["ports"] if p["port"] == parts.port), None)
            grpc_port = container_ports(target[2]).get("grpc")
            if port is None:
                problems.append(f"{overlay}: {var}={url}: Service {parts.hostname} has no port "
                                f"{parts.port}")
            elif container_ports(target[2]).get(port.get("targetPort"), port.get("targetPort")) != grpc_port:
                problems.append(f"{overlay}: {var}={url}: port {parts.port} does not lead to "
                                f"the {role} pods' grpc port {grpc_port}")
            if parts.hostname not in (role_certs[role]["spec"].get("dnsNames") or []):
                problems.append(f"{overlay}: {var}={url}: {ref(role_certs[role])} does not "
                                f"carry {parts.hostname}, which the gateway checks")
        gateway_names = set(role_certs["gateway"]["spec"].get("dnsNames") or [])
        for role in ENGINE_ROLES:
            found = role_workload(objs, role)
            if found is None:
                continue
            env, _ = env_of(found[2], objs)
            callers = [n.strip() for n in str(env.get("OBOL_TRUSTED_CALLERS", "")).split(",") if n.strip()]
            for caller in callers:
                if caller not in gateway_names:
                    problems.append(f"{overlay} {ref(found[0])}: OBOL_TRUSTED_CALLERS names "
                                    f"{caller}, which the gateway's certificate does not carry")
        # The public certificate: the Ingress's issuer exists, prod on Let's Encrypt's
        # production CA, the others on its staging CA; the solver uses the Ingress's class.
        for ing in find(objs, "Ingress"):
            issuer = (ing["metadata"].get("annotations") or {}).get("cert-manager.io/cluster-issuer")
            want = "letsencrypt-prod" if overlay == "prod" else "letsencrypt-staging"
            if issuer != want:
                problems.append(f"{overlay} {ref(ing)}: cluster-issuer is {issuer}, want {want}")
            if issuer not in cluster_issuers:
                problems.append(f"{overlay} {ref(ing)}: ClusterIssuer {issuer} is not rendered")
            else:
                for ci in find(objs, "ClusterIssuer", issuer):
                    for solver in ci["spec"].get("acme", {}).get("solvers", []):
                        cls = solver.get("http01", {}).get("ingress", {}).get("ingressClassName")
                        if cls != ing["spec"].get("ingressClassName"):
                            problems.append(f"{overlay} {ref(ci)}: the HTTP-01 solver's class "
                                            f"{cls} is not the Ingress's")
            tls_hosts = {h for t in ing["spec"].get("tls") or [] for h in t.get("hosts") or []}
            rule_hosts = {rule.get("host") for rule in ing["spec"].get("rules") or []}
            if tls_hosts != rule_hosts:
                problems.append(f"{overlay} {ref(ing)}: TLS hosts {tls_hosts} differ from rule "
                                f"hosts {rule_hosts}")
            if BASE_HOST in rule_hosts:
                problems.append(f"{overlay} {ref(ing)}: still has base's host {BASE_HOST}; "
                                "each overlay names its own")
    return problems, "gateway URLs, trusted callers, dnsNames, issuers, public TLS"


def resolve_port(port: Any, ports: dict[str, int]) -> int | None:
    if isinstance(port, int):
        return port if port in ports.values() else None
    return ports.get(port)


def check_wiring(r: Rendered) -> tuple[list[str], str]:
    """Probes on container ports (gRPC probes on the plaintext health port), Services,
    ServiceMonitors, the Ingress, HPAs and PDBs reach what exists; references resolve; one
    image, pinned; the migration Job carries its release; labels and namespace."""
    problems = []
    for overlay, objs in r.objects.items():
        pods = [(o, pod_labels(o), s) for o, s in workloads(objs)]
        images = set()
        for obj, spec, c, role in obol_containers(objs):
            where = f"{overlay} {ref(obj)}"
            images.add(c.get("image", ""))
            ports = container_ports(c)
            env, _ = env_of(c, objs)
            health_port = str(env.get("OBOL_GRPC_HEALTH_ADDR", "")).rpartition(":")[2]
            kinds = {}
            for probe_name in ("livenessProbe", "readinessProbe", "startupProbe"):
                probe = c.get(probe_name)
                if probe is None:
                    continue
                for action in ("httpGet", "tcpSocket", "grpc"):
                    if action in probe:
                        kinds[probe_name] = (action, probe[action])
                        port = probe[action].get("port")
                        if resolve_port(port, ports) is None:
                            problems.append(f"{where}: {probe_name} port {port} is not a "
                                            "container port")
                        if action == "grpc" and str(port) != health_port:
                            problems.append(f"{where}: {probe_name} asks gRPC on {port}, not "
                                            "the plaintext health port (OBOL_GRPC_HEALTH_ADDR "
                                            f"{health_port or 'unset'}): the kubelet speaks no TLS")
                        if action == "httpGet" and probe["httpGet"].get("path") not in ("/healthz", "/readyz"):
                            problems.append(f"{where}: {probe_name} asks {probe['httpGet'].get('path')}")
            if role in ROLES:
                for probe_name in ("livenessProbe", "readinessProbe"):
                    if probe_name not in kinds:
                        problems.append(f"{where}: no {probe_name}")
                if role == "gateway":
                    if kinds.get("readinessProbe", ("", {}))[1].get("path") != "/readyz":
                        problems.append(f"{where}: readiness must ask /readyz")
                    if kinds.get("livenessProbe", ("", {}))[1].get("path") != "/healthz":
                        problems.append(f"{where}: liveness must ask /healthz")
                elif kinds.get("readinessProbe", ("",))[0] != "grpc":
                    problems.append(f"{where}: readiness must be the kubelet's gRPC probe")
                if role != "gateway" and kinds.get("livenessProbe", ("", {}))[1].get("path") == "/readyz":
                    problems.append(f"{where}: liveness must not depend on the database (/readyz)")
            if c.get("imagePullPolicy") != "Always" and "@sha256:" not in c.get("image", ""):
                problems.append(f"{where}: pin the image by digest or pull it Always")
            sa = spec.get("serviceAccountName")
            if not sa or not find(objs, "ServiceAccount", sa):
                problems.append(f"{where}: ServiceAccount {sa} is not rendered")
            for volume in spec.get("volumes") or []:
                if "secret" in volume and volume["secret"]["secretName"] not in secret_producers(objs):
                    problems.append(f"{where}: the Secret {volume['secret']['secretName']} is made "
                                    "by nothing rendered")
            if obj["kind"] == "Deployment":
                if not selector_matches(obj["spec"]["selector"], pod_labels(obj)):
                    problems.append(f"{where}: the selector does not match the pod labels")
                component = pod_labels(obj).get("app.kubernetes.io/component")
                if component != role:
                    problems.append(f"{where}: pods run --role {role} but are labelled {component}")
                if name_of(obj) != f"obol-{role}":
                    problems.append(f"{where}: the {role} Deployment must be obol-{role}")
                if not services_selecting(objs, pod_labels(obj)):
                    problems.append(f"{where}: no Service selects its pods")
                for kind in ("HorizontalPodAutoscaler", "PodDisruptionBudget"):
                    if not [x for x in find(objs, kind)
                            if (kind == "HorizontalPodAutoscaler"
                                and x["spec"]["scaleTargetRef"]["name"] == name_of(obj))
                            or (kind == "PodDisruptionBudget"
                                and selector_matches(x["spec"]["selector"], pod_labels(obj)))]:
                        problems.append(f"{where}: no {kind}")
                constraints = {t["topologyKey"] for t in spec.get("topologySpreadConstraints") or []}
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname"):
                    if key not in constraints:
                        problems.append(f"{where}: no topologySpreadConstraint on {key}")
            if obj["kind"] == "Job":
                tag = image_tag(c.get("image", ""))
                if name_of(obj) != f"obol-migrate-{tag}":
                    problems.append(f"{where}: the migration Job must be obol-migrate-{tag} (its "
                                    "image's tag; the overlay's replacements append it)")
        if len(images) != 1:
            problems.append(f"{overlay}: one image for every role, found {sorted(images)}")
        for image in images:
            if image_tag(image) in ("", "latest"):
                problems.append(f"{overlay}: the image {image} is not pinned to a release")
        for svc in find(objs, "Service"):
            selected = [(o, s) for o, labels, s in pods
                        if selector_matches({"matchLabels": svc["spec"].get("selector") or {}}, labels)]
            if not selected:
                problems.append(f"{overlay} {ref(svc)}: selects no pods")
            for port in svc["spec"].get("ports") or []:
                target = port.get("targetPort", port["port"])
                for o, s in selected:
                    if all(resolve_port(target, container_ports(c)) is None for c in containers(s)):
                        problems.append(f"{overlay} {ref(svc)}: targetPort {target} is not a "
                                        f"container port of {ref(o)}")
        for sm in find(objs, "ServiceMonitor"):
            svcs = [s for s in find(objs, "Service")
                    if selector_matches(sm["spec"].get("selector"), s["metadata"].get("labels") or {})]
            if not svcs:
                problems.append(f"{overlay} {ref(sm)}: selects no Service")
            for endpoint in sm["spec"].get("endpoints") or []:
                for s in svcs:
                    if endpoint.get("port") and endpoint["port"] not in {p.get("name") for p in s["spec"]["ports"]}:
                        problems.append(f"{overlay} {ref(sm)}: {ref(s)} has no port {endpoint['port']}")
        for ing in find(objs, "Ingress"):
            for rule in ing["spec"].get("rules") or []:
                for path in rule.get("http", {}).get("paths") or []:
                    backend = path["backend"]["service"]
                    svc = find(objs, "Service", backend["name"])
                    port = backend["port"].get("name", backend["port"].get("number"))
                    if not svc or port not in {p.get("name") for p in svc[0]["spec"]["ports"]} | \
                            {p["port"] for p in svc[0]["spec"]["ports"]}:
                        problems.append(f"{overlay} {ref(ing)}: backend {backend['name']}:{port} "
                                        "does not exist")
        for hpa in find(objs, "HorizontalPodAutoscaler"):
            target = hpa["spec"]["scaleTargetRef"]
            if not find(objs, target["kind"], target["name"]):
                problems.append(f"{overlay} {ref(hpa)}: scales {target['kind']}/{target['name']}, "
                                "which is not rendered")
        for pdb in find(objs, "PodDisruptionBudget"):
            if not any(selector_matches(pdb["spec"]["selector"], labels) for _, labels, _ in pods):
                problems.append(f"{overlay} {ref(pdb)}: selects no pods")
        if overlay == "prod":
            for hpa in find(objs, "HorizontalPodAutoscaler"):
                if hpa["spec"].get("minReplicas", 1) < 3:
                    problems.append(f"{overlay} {ref(hpa)}: prod runs at least 3 replicas")
            for pdb in find(objs, "PodDisruptionBudget"):
                if "minAvailable" not in pdb["spec"]:
                    problems.append(f"{overlay} {ref(pdb)}: prod sets minAvailable")
            for cluster in find(objs, "Cluster"):
                if cluster["spec"]["instances"] < 3:
                    problems.append(f"{overlay} {ref(cluster)}: prod runs 3 instances")
        for o in objs:
            labels = o.get("metadata", {}).get("labels") or {}
            for key in ("app.kubernetes.io/name", "app.kubernetes.io/part-of"):
                if labels.get(key) != "obol":
                    problems.append(f"{overlay} {ref(o)}: label {key} is not obol")
            ns = o.get("metadata", {}).get("namespace")
            if o["kind"] in CLUSTER_SCOPED:
                if ns is not None:
                    problems.append(f"{overlay} {ref(o)}: cluster-scoped but has namespace {ns}")
            elif ns != NAMESPACE:
                problems.append(f"{overlay} {ref(o)}: namespace {ns}, want {NAMESPACE}")
    return problems, "probes, Services, ServiceMonitors, Ingress, HPAs, PDBs, references, image, labels"


def check_security(r: Rendered) -> tuple[list[str], str]:
    """Every pod as the brief says: non-root 65532, read-only root, no privilege escalation,
    no capabilities, RuntimeDefault seccomp, no ServiceAccount token, sized, /tmp writable."""
    problems = []
    count = 0
    for overlay, objs in r.objects.items():
        for obj, spec in workloads(objs):
            where = f"{overlay} {ref(obj)}"
            pod = spec.get("securityContext") or {}
            if spec.get("automountServiceAccountToken") is not False:
                problems.append(f"{where}: automountServiceAccountToken must be false")
            sa = find(objs, "ServiceAccount", spec.get("serviceAccountName", "default"))
            if sa and sa[0].get("automountServiceAccountToken") is not False:
                problems.append(f"{where}: its ServiceAccount mounts a token")
            if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
                problems.append(f"{where}: shares a host namespace")
            for c in containers(spec):
                count += 1
                sc = c.get("securityContext") or {}
                cw = f"{where} container {c['name']}"

                def get(key: str, sc: Obj = sc) -> Any:
                    return sc.get(key, pod.get(key))

                if get("runAsNonRoot") is not True:
                    problems.append(f"{cw}: runAsNonRoot must be true")
                if get("runAsUser") != UID or get("runAsGroup") != UID:
                    problems.append(f"{cw}: runAsUser and runAsGroup must be {UID}")
                if (get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                    problems.append(f"{cw}: seccompProfile must be RuntimeDefault")
                if sc.get("readOnlyRootFilesystem") is not True:
                    problems.append(f"{cw}: readOnlyRootFilesystem must be true")
                if sc.get("allowPrivilegeEscalation") is not False:
                    problems.append(f"{cw}: allowPrivilegeEscalation must be false")
                if sc.get("privileged"):
                    problems.append(f"{cw}: privileged")
                caps = sc.get("capabilities") or {}
                if "ALL" not in (caps.get("drop") or []) or caps.get("add"):
                    problems.append(f"{cw}: capabilities must drop ALL and add none")
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for resource in ("cpu", "memory"):
                        if resource not in (res.get(part) or {}):
                            problems.append(f"{cw}: no {part}.{resource}")
                mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts") or []}
                tmp = next((v for v in spec.get("volumes") or [] if v["name"] == mounts.get("/tmp")), None)
                if tmp is None or "emptyDir" not in tmp:
                    problems.append(f"{cw}: no emptyDir at /tmp (the root filesystem is read-only)")
                for m in c.get("volumeMounts") or []:
                    volume = next((v for v in spec.get("volumes") or [] if v["name"] == m["name"]), {})
                    if "secret" in volume:
                        if not m.get("readOnly"):
                            problems.append(f"{cw}: the secret mount {m['mountPath']} must be readOnly")
                        if volume["secret"].get("defaultMode") != 0o400:
                            problems.append(f"{cw}: the secret volume {m['name']} must have "
                                            "defaultMode 0400")
    return problems, f"{count} containers"


# NetworkPolicy: a small evaluator of the rendered policies, and what must and must not pass.

def np_types(policy: Obj) -> set[str]:
    spec = policy["spec"]
    return set(spec.get("policyTypes") or (["Ingress"] + (["Egress"] if "egress" in spec else [])))


def np_peer_matches(peer: Obj, ep: Obj, policy_ns: str) -> bool:
    if "ipBlock" in peer:
        addr = ipaddress.ip_address(ep["ip"])
        net = ipaddress.ip_network(peer["ipBlock"]["cidr"])
        if addr.version != net.version or addr not in net:
            return False
        return not any(addr in ipaddress.ip_network(e)
                       for e in peer["ipBlock"].get("except") or []
                       if ipaddress.ip_network(e).version == addr.version)
    if ep.get("ns") is None:  # an address outside the cluster: only ipBlock peers match
        return False
    if "namespaceSelector" in peer:
        if not selector_matches(peer["namespaceSelector"], {"kubernetes.io/metadata.name": ep["ns"]}):
            return False
    elif ep["ns"] != policy_ns:
        return False
    return selector_matches(peer["podSelector"], ep["labels"]) if "podSelector" in peer else True


def np_port_matches(rule_ports: list[Obj] | None, port: int, proto: str, dst: Obj) -> bool:
    if not rule_ports:
        return True
    for p in rule_ports:
        if p.get("protocol", "TCP") != proto:
            continue
        if "port" not in p:
            return True
        value = p["port"]
        if isinstance(value, str):
            if dst.get("ports", {}).get(value) == port:
                return True
        elif value <= port <= p.get("endPort", value):
            return True
    return False


def np_allowed(policies: list[Obj], src: Obj, dst: Obj, port: int, proto: str) -> bool:
    for direction, me, other, rules_key, peers_key in (
            ("Egress", src, dst, "egress", "to"), ("Ingress", dst, src, "ingress", "from")):
        if me.get("ns") != NAMESPACE:
            continue  # only this namespace's policies are known
        selecting = [p for p in policies if direction in np_types(p)
                     and p["metadata"].get("namespace", NAMESPACE) == me["ns"]
                     and selector_matches(p["spec"]["podSelector"], me["labels"])]
        if not selecting:
            continue
        if not any((not rule.get(peers_key)
                    or any(np_peer_matches(peer, other, p["metadata"].get("namespace", NAMESPACE))
                           for peer in rule[peers_key]))
                   and np_port_matches(rule.get("ports"), port, proto, dst)
                   for p in selecting for rule in p["spec"].get(rules_key) or []):
            return False
    return True


def check_network(r: Rendered) -> tuple[list[str], str]:
    """Default deny; the paths the brief allows pass and nothing else tried here does; every
    port a policy names for Obol's pods is one they open."""
    problems = []
    tried = 0
    for overlay, objs in r.objects.items():
        policies = find(objs, "NetworkPolicy")
        if not any(p["spec"]["podSelector"] == {} and {"Ingress", "Egress"} <= np_types(p)
                   and not p["spec"].get("ingress") and not p["spec"].get("egress") for p in policies):
            problems.append(f"{overlay}: no default-deny policy (podSelector {{}}, Ingress and Egress)")
        ep: dict[str, Obj] = {}
        pod_ip = "10.244.1.10"
        for role in ROLES + ("migrate",):
            found = next(((o, c) for o, _, c, r_ in obol_containers(objs) if r_ == role), None)
            if found is None:
                problems.append(f"{overlay}: no workload runs the {role} role")
                continue
            ep[role] = {"ns": NAMESPACE, "labels": pod_labels(found[0]), "ip": pod_ip,
                        "ports": container_ports(found[1])}
        if len(ep) < 5:
            continue
        has_db = bool(find(objs, "Cluster", "obol-db"))
        ep |= {
            # CloudNativePG's instance pods and ports.
            "db": {"ns": NAMESPACE, "labels": {"cnpg.io/cluster": "obol-db", "cnpg.io/instanceRole": "primary"},
                   "ip": pod_ip, "ports": {"postgresql": 5432, "metrics": 9187, "status": 8000}},
            "acme-solver": {"ns": NAMESPACE, "labels": {"acme.cert-manager.io/http01-solver": "true"},
                            "ip": pod_ip, "ports": {"http": 8089}},
            "ingress-nginx": {"ns": "ingress-nginx", "labels": {"app.kubernetes.io/name": "ingress-nginx"}, "ip": pod_ip},
            "prometheus": {"ns": "monitoring", "labels": {"app.kubernetes.io/name": "prometheus"}, "ip": pod_ip},
            "kube-dns": {"ns": "kube-system", "labels": {"k8s-app": "kube-dns"}, "ip": pod_ip, "ports": {"dns": 53}},
            "vault": {"ns": "vault", "labels": {"app.kubernetes.io/name": "vault"}, "ip": pod_ip},
            "cnpg-operator": {"ns": "cnpg-system", "labels": {}, "ip": pod_ip},
            "other-namespace": {"ns": "default", "labels": {"app": "anything"}, "ip": pod_ip},
            # Documentation address (public), the cloud metadata service, a private address.
            "internet": {"ns": None, "ip": "203.0.113.10"},
            "internet-v6": {"ns": None, "ip": "2001:db8::10"},
            "metadata-service": {"ns": None, "ip": "169.254.169.254"},
            "private-network": {"ns": None, "ip": "10.0.0.5"},
        }
        allow = [("ingress-nginx", "gateway", 8080), ("prometheus", "gateway", 8080),
                 ("ingress-nginx", "acme-solver", 8089), ("payments", "internet", 443),
                 ("payments", "internet-v6", 443)]
        deny = [("other-namespace", "gateway", 8080), ("ingress-nginx", "gateway", 50051),
                ("gateway", "internet", 443), ("gateway", "vault", 8200),
                ("payments", "metadata-service", 443), ("payments", "metadata-service", 80),
                ("payments", "private-network", 443), ("payments", "internet", 80),
                ("migrate", "internet", 443), ("gateway", "prometheus", 9090)]
        for role in ENGINE_ROLES:
            allow += [("gateway", role, 50051), ("prometheus", role, 8080), (role, "vault", 8200)]
            deny += [("ingress-nginx", role, 50051), ("ingress-nginx", role, 8080),
                     ("other-namespace", role, 50051), ("gateway", role, 50050),
                     ("gateway", role, 8080)]
            deny += [(role, other, 50051) for other in ENGINE_ROLES]
            if role != "payments":
                deny += [(role, "internet", 443)]
            if has_db:
                allow.append((role, "db", 5432))
        if has_db:
            allow += [("migrate", "db", 5432), ("prometheus", "db", 9187),
                      ("cnpg-operator", "db", 8000), ("db", "db", 5432)]
            deny += [("gateway", "db", 5432), ("ingress-nginx", "db", 5432),
                     ("other-namespace", "db", 5432)]
        for name in ROLES + ("migrate",) + (("db",) if has_db else ()):
            allow += [(name, "kube-dns", 53, "UDP"), (name, "kube-dns", 53, "TCP")]
        deny += [("gateway", "other-namespace", 53, "UDP")]
        for expected, cases in ((True, allow), (False, deny)):
            for case in cases:
                src, dst, port = case[:3]
                proto = case[3] if len(case) > 3 else "TCP"
                tried += 1
                if np_allowed(policies, ep[src], ep[dst], port, proto) != expected:
                    problems.append(f"{overlay}: {src} -> {dst}:{port}/{proto} should be "
                                    f"{'allowed' if expected else 'denied'}, is "
                                    f"{'denied' if expected else 'allowed'}")
        # Ports named for Obol's pods exist on them.
        obol_pods = [(o, pod_labels(o), [p for c in containers(s) for p in c.get("ports") or []])
                     for o, s in workloads(objs)]
        for policy in policies:
            targets = [(o, ports) for o, labels, ports in obol_pods
                       if selector_matches(policy["spec"]["podSelector"], labels)]
            for rule in policy["spec"].get("ingress") or []:
                for p in rule.get("ports") or []:
                    for o, ports in targets:
                        if not any(p.get("port") in (q["containerPort"], q.get("name"))
                                   for q in ports):
                            problems.append(f"{overlay} {ref(policy)}: ingress port "
                                            f"{p.get('port')} is not opened by {ref(o)}")
            for rule in policy["spec"].get("egress") or []:
                for peer in rule.get("to") or []:
                    if "podSelector" not in peer or "namespaceSelector" in peer:
                        continue
                    dests = [(o, ports) for o, labels, ports in obol_pods
                             if selector_matches(peer["podSelector"], labels)]
                    for p in rule.get("ports") or []:
                        for o, ports in dests:
                            if not any(p.get("port") in (q["containerPort"], q.get("name"))
                                       for q in ports):
                                problems.append(f"{overlay} {ref(policy)}: egress port "
                                                f"{p.get('port')} is not opened by {ref(o)}")
    return problems, f"{tried} paths tried against the rendered policies"


def write_rendered(r: Rendered, out: Path) -> None:
    for overlay, text in r.yaml.items():
        (out / f"{overlay}.yaml").write_text(text)
    shutil.copy(DOCKERFILE, out / "Dockerfile")


def check_checkov(r: Rendered, out: Path) -> tuple[list[str], str]:
    """checkov once over every overlay and the Dockerfile: no failed check, every skip with
    a reason written where it applies."""
    checkov = shutil.which("checkov")
    if checkov is None:
        return ["checkov is not on PATH (bash deploy/checks/install-tools)"], ""
    run = subprocess.run(
        [checkov, "-d", str(out), "--framework", "kubernetes", "dockerfile", "--compact",
         "--skip-download", "-o", "json"],
        capture_output=True, text=True, check=False)
    try:
        reports = json.loads(run.stdout)
    except json.JSONDecodeError:
        return [f"checkov exited {run.returncode} without a report: {run.stderr.strip()[-2000:]}"], ""
    reports = reports if isinstance(reports, list) else [reports]
    problems = []
    totals: Counter[str] = Counter()
    skips: Counter[str] = Counter()
    for report in reports:
        summary = report.get("summary", {})
        for key in ("passed", "failed", "skipped", "parsing_errors"):
            totals[key] += summary.get(key, 0)
        results = report.get("results", {})
        for failed in results.get("failed_checks", []):
            problems.append(f"{failed['check_id']} {failed['check_name']}: "
                            f"{failed['file_path'].lstrip('/')} {failed['resource']}")
        for skipped in results.get("skipped_checks", []):
            reason = (skipped.get("check_result") or {}).get("suppress_comment") or ""
            if len(reason.split()) < 4:
                problems.append(f"{skipped['check_id']} skipped without a reason: "
                                f"{skipped['file_path'].lstrip('/')} {skipped['resource']}")
            skips[skipped["check_id"]] += 1
    if totals["parsing_errors"]:
        problems.append(f"checkov could not parse {totals['parsing_errors']} file(s)")
    if not totals["passed"]:
        problems.append("checkov ran no check")
    skipped = ", ".join(f"{k} x{v}" for k, v in sorted(skips.items())) or "none"
    return problems, (f"{totals['passed']} passed, {totals['failed']} failed, "
                      f"{totals['skipped']} skipped ({skipped})")


def check_hadolint(_: Rendered) -> tuple[list[str], str]:
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        return ["hadolint is not on PATH (bash deploy/checks/install-tools)"], ""
    run = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)],
                         capture_output=True, text=True, check=False)
    lines = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    version = subprocess.run([hadolint, "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    if run.returncode != 0 and not lines:
        lines = [f"hadolint exited {run.returncode}"]
    return lines, f"{DOCKERFILE.relative_to(ROOT)} ({version})"


def main() -> int:
    failed = 0

    def run(name: str, fn: Callable[[], tuple[list[str], str]]) -> bool:
        nonlocal failed
        start = time.monotonic()
        try:
            problems, detail = fn()
        except Exception:  # a crashed check fails, with its trace
            problems, detail = [traceback.format_exc().rstrip()], ""
        took = time.monotonic() - start
        status = "ok  " if not problems else "FAIL"
        print(f"{status} kubernetes: {name}: {detail or f'{len(problems)} problem(s)'} [{took:.1f}s]",
              flush=True)
        for problem in problems:
            print(f"       {problem}")
        failed += bool(problems)
        return not problems

    r = Rendered()
    rendered = run("render", lambda: check_render(r))
    if rendered:
        run("schemas", lambda: check_schemas(r))
        run("settings", lambda: check_settings(r))
        run("certificates", lambda: check_certificates(r))
        run("connection budget", lambda: check_connection_budget(r))
        run("wiring", lambda: check_wiring(r))
        run("security contexts", lambda: check_security(r))
        run("network policies", lambda: check_network(r))
    with tempfile.TemporaryDirectory(prefix="obol-checkov-") as tmp:
        if rendered:
            write_rendered(r, Path(tmp))
            run("checkov", lambda: check_checkov(r, Path(tmp)))
    run("hadolint", lambda: check_hadolint(r))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
