# Obol's platform and Obol itself, in order:
#   1. namespaces for the platform charts;
#   2. the platform, as Helm releases at pinned chart versions: Vault, External Secrets
#      Operator, cert-manager, CloudNativePG, kube-prometheus-stack;
#   3. the Kustomize overlay deploy/k8s/overlays/<overlay>, applied object by object with the
#      kbst/kustomization provider, in this order:
#        a. Namespaces and CRDs (ids_prio[0]);
#        b. plain objects (ConfigMaps, Services, ServiceAccounts, RBAC, NetworkPolicies, PDBs,
#           HPAs, ...) and, once the operators run, the objects of their CRDs (ExternalSecrets,
#           SecretStores, Certificates, Issuers, the CloudNativePG Cluster, ServiceMonitors,
#           PrometheusRules);
#        c. the migration Job, waited for until it completes;
#        d. the Deployments, waited for until they roll out;
#        e. admission webhooks, if any (ids_prio[2]).
# README.md explains each choice.

provider "kubernetes" {
  config_path    = pathexpand(var.kubeconfig_path)
  config_context = var.kube_context
}

provider "helm" {
  kubernetes = {
    config_path    = pathexpand(var.kubeconfig_path)
    config_context = var.kube_context
  }
}

provider "kustomization" {
  kubeconfig_path = pathexpand(var.kubeconfig_path)
  context         = var.kube_context
}

locals {
  dev          = var.overlay == "dev"
  overlay_path = "${path.module}/../k8s/overlays/${var.overlay}"

  # Pod Security Standards per platform namespace: node-exporter (kube-prometheus-stack) needs
  # host access; the operators and Vault run under `baseline` and are warned about
  # `restricted`.
  platform_namespaces = {
    vault            = { name = "vault", enforce = "baseline" }
    external_secrets = { name = "external-secrets", enforce = "baseline" }
    cert_manager     = { name = "cert-manager", enforce = "baseline" }
    cloudnative_pg   = { name = "cnpg-system", enforce = "baseline" }
    monitoring       = { name = "monitoring", enforce = "privileged" }
  }
}

# ------------------------------------------------------------------ 1. namespaces

resource "kubernetes_namespace_v1" "platform" {
  for_each = local.platform_namespaces

  metadata {
    name = each.value.name
    labels = {
      "app.kubernetes.io/managed-by"       = "terraform"
      "app.kubernetes.io/part-of"          = "obol-platform"
      "pod-security.kubernetes.io/enforce" = each.value.enforce
      "pod-security.kubernetes.io/warn"    = "restricted"
    }
  }
}

# Obol's own namespace: the overlay's Namespace object when it has one (applied in 3a), this
# otherwise.
resource "kubernetes_namespace_v1" "app" {
  count = contains(data.kustomization_overlay.obol.ids, "_/Namespace/_/${var.namespace}") ? 0 : 1

  metadata {
    name = var.namespace
    labels = {
      "app.kubernetes.io/managed-by"       = "terraform"
      "app.kubernetes.io/part-of"          = "obol"
      "pod-security.kubernetes.io/enforce" = "restricted"
    }
  }
}

# ------------------------------------------------------------------ 2. the platform

# Vault holds Obol's secrets (KV v2 under secret/obol/...), read by External Secrets through
# Vault's Kubernetes auth (role `obol`). dev: one in-memory dev server, unsealed, root token
# "root" (local clusters only). staging/prod: HA on integrated Raft storage; initialising and
# unsealing it is an operator's step (README.md).
resource "helm_release" "vault" {
  name       = "vault"
  namespace  = kubernetes_namespace_v1.platform["vault"].metadata[0].name
  repository = "https://helm.releases.hashicorp.com"
  chart      = "vault"
  version    = var.vault_chart_version
  timeout    = 600

  values = local.dev ? [yamlencode({
    injector = { enabled = false }
    server = {
      dev = { enabled = true }
    }
    })] : [yamlencode({
    injector = { enabled = false }
    ui       = { enabled = true }
    server = {
      ha = {
        enabled  = true
        replicas = var.vault_replicas
        raft     = { enabled = true, setNodeId = true }
      }
      dataStorage  = { enabled = true, size = "10Gi" }
      auditStorage = { enabled = true, size = "10Gi" }
      resources = {
        requests = { cpu = "250m", memory = "256Mi" }
        limits   = { memory = "512Mi" }
      }
    }
  })]
}

# External Secrets Operator: turns the overlay's ExternalSecrets into Secrets from Vault.
resource "helm_release" "external_secrets" {
  name       = "external-secrets"
  namespace  = kubernetes_namespace_v1.platform["external_secrets"].metadata[0].name
  repository = "https://charts.external-secrets.io"
  chart      = "external-secrets"
  version    = var.external_secrets_chart_version
  timeout    = 600

  values = [yamlencode({
    installCRDs = true
  })]
}

# cert-manager: the overlay's Certificates (the gateway's TLS, the gRPC roles' mTLS).
# `crds.enabled` is what the chart's old `installCRDs` became (v1.15); `crds.keep` leaves the
# CRDs, and so every Certificate, in place if the release is uninstalled.
resource "helm_release" "cert_manager" {
  name       = "cert-manager"
  namespace  = kubernetes_namespace_v1.platform["cert_manager"].metadata[0].name
  repository = "https://charts.jetstack.io"
  chart      = "cert-manager"
  version    = var.cert_manager_chart_version
  timeout    = 600

  values = [yamlencode({
    crds = { enabled = true, keep = true }
  })]
}

# CloudNativePG operator: runs the overlay's PostgreSQL Cluster (obol-db in prod).
resource "helm_release" "cloudnative_pg" {
  name       = "cnpg"
  namespace  = kubernetes_namespace_v1.platform["cloudnative_pg"].metadata[0].name
  repository = "https://cloudnative-pg.github.io/charts"
  chart      = "cloudnative-pg"
  version    = var.cloudnative_pg_chart_version
  timeout    = 600

  values = [yamlencode({
    crds = { create = true }
  })]
}

# kube-prometheus-stack: Prometheus Operator, Prometheus, Alertmanager, Grafana,
# kube-state-metrics. The release is named kube-prometheus-stack because Prometheus selects
# ServiceMonitors and PrometheusRules labelled `release: <release name>`, and the overlay's
# carry `release: kube-prometheus-stack`. Grafana's sidecar loads dashboards from ConfigMaps
# labelled grafana_dashboard: "1" in every namespace (Obol's is in Obol's namespace).
resource "helm_release" "kube_prometheus_stack" {
  name       = "kube-prometheus-stack"
  namespace  = kubernetes_namespace_v1.platform["monitoring"].metadata[0].name
  repository = "https://prometheus-community.github.io/helm-charts"
  chart      = "kube-prometheus-stack"
  version    = var.kube_prometheus_stack_chart_version
  timeout    = 900

  values = [yamlencode({
    prometheus = {
      prometheusSpec = {
        retention = local.dev ? "2d" : "15d"
        # ServiceMonitors and rules: only those labelled release: kube-prometheus-stack.
        serviceMonitorSelectorNilUsesHelmValues = true
        ruleSelectorNilUsesHelmValues           = true
        # PodMonitors: every one, so that the PodMonitor CloudNativePG makes for obol-db
        # (enablePodMonitor, no release label) is scraped.
        podMonitorSelectorNilUsesHelmValues = false
      }
    }
    grafana = {
      sidecar = {
        dashboards = {
          enabled          = true
          label            = "grafana_dashboard"
          labelValue       = "1"
          searchNamespace  = "ALL"
          folderAnnotation = "grafana_folder"
          provider         = { foldersFromFilesStructure = true }
        }
      }
    }
  })]
}

# ------------------------------------------------------------------ 3. the overlay

# kustomization_overlay rather than kustomization_build: the same `kustomize build` of the
# overlay, plus what comes from Terraform variables: the image tag (which also names the
# migration Job, obol-migrate-<tag>, as the overlays do for their own tag) and, when set, the
# public host (the Ingress and the payment rails' return URLs).
data "kustomization_overlay" "obol" {
  resources = [local.overlay_path]

  images {
    name    = var.image_name
    new_tag = var.image_tag
  }

  patches {
    target = {
      group          = "batch"
      kind           = "Job"
      label_selector = "app.kubernetes.io/component=migrate"
    }
    patch = jsonencode([
      { op = "replace", path = "/metadata/name", value = "obol-migrate-${var.image_tag}" },
    ])
  }

  dynamic "patches" {
    for_each = var.ingress_host == null ? [] : [var.ingress_host]
    content {
      target = {
        group = "networking.k8s.io"
        kind  = "Ingress"
        name  = var.ingress_name
      }
      patch = jsonencode([
        { op = "replace", path = "/spec/rules/0/host", value = patches.value },
        { op = "replace", path = "/spec/tls/0/hosts", value = [patches.value] },
      ])
    }
  }

  dynamic "config_map_generator" {
    for_each = var.ingress_host == null ? [] : [var.ingress_host]
    content {
      name      = "obol-payments-config"
      namespace = var.namespace
      behavior  = "merge"
      literals = [
        "OBOL_STRIPE_RETURN_URL=https://${config_map_generator.value}/return",
        "OBOL_PAYPAL_RETURN_URL=https://${config_map_generator.value}/return",
      ]
    }
  }
}

locals {
  manifests = data.kustomization_overlay.obol.manifests

  # Ids are group/Kind/namespace/name, with "_" for the core group and for cluster-scoped
  # objects: apps/Deployment/obol/obol-gateway, _/Secret/obol/x, batch/Job/obol/obol-migrate.
  prio0 = data.kustomization_overlay.obol.ids_prio[0]
  prio1 = data.kustomization_overlay.obol.ids_prio[1]
  prio2 = data.kustomization_overlay.obol.ids_prio[2]

  # Objects of the operators' CRDs, applied once the Helm releases are in.
  operator_groups = [
    "external-secrets.io",
    "cert-manager.io",
    "postgresql.cnpg.io",
    "monitoring.coreos.com",
  ]
  operator_ids = toset([
    for id in local.prio1 : id
    if anytrue([for g in local.operator_groups : endswith(split("/", id)[0], g)])
  ])
  migration_ids = toset([for id in local.prio1 : id if startswith(id, "batch/Job/")])
  database_ids  = toset([for id in local.prio1 : id if startswith(id, "postgresql.cnpg.io/Cluster/")])
  workload_ids = toset([
    for id in local.prio1 : id
    if contains(["apps/Deployment", "apps/StatefulSet", "apps/DaemonSet"], join("/", slice(split("/", id), 0, 2)))
  ])
  plain_ids = setsubtract(local.prio1, setunion(local.operator_ids, local.migration_ids, local.workload_ids))
}

# The overlay must deploy into var.namespace (outputs and the Vault role's binding use it) and
# prod must not run a floating tag.
resource "terraform_data" "overlay_checks" {
  input = var.overlay

  lifecycle {
    precondition {
      condition     = length(local.workload_ids) > 0 && alltrue([for id in local.workload_ids : split("/", id)[2] == var.namespace])
      error_message = "The overlay ${var.overlay} must deploy its workloads into namespace ${var.namespace} (set -var namespace=...)."
    }
    precondition {
      condition     = !(var.overlay == "prod" && contains(["latest", "main", "dev"], var.image_tag))
      error_message = "prod needs a release image tag, not ${var.image_tag}."
    }
  }
}

# 3a. Namespaces and CRDs.
resource "kustomization_resource" "prio0" {
  for_each = local.prio0

  manifest = local.manifests[each.value]

  depends_on = [terraform_data.overlay_checks]
}

# 3b. Plain objects: no operator needed.
resource "kustomization_resource" "plain" {
  for_each = local.plain_ids

  # A Secret's manifest stays out of the plan's output (the overlays hold none: Vault does).
  manifest = startswith(each.value, "_/Secret/") ? sensitive(local.manifests[each.value]) : local.manifests[each.value]

  depends_on = [kustomization_resource.prio0, kubernetes_namespace_v1.app]
}

# 3b. Objects of the operators' CRDs, once the operators (and their CRDs and webhooks) run.
resource "kustomization_resource" "operator_objects" {
  for_each = local.operator_ids

  manifest = local.manifests[each.value]

  depends_on = [
    kustomization_resource.prio0,
    kubernetes_namespace_v1.app,
    helm_release.vault,
    helm_release.external_secrets,
    helm_release.cert_manager,
    helm_release.cloudnative_pg,
    helm_release.kube_prometheus_stack,
  ]
}

# 3c. The database must accept connections before the migration Job starts: the Job retries
# only a few times (backoffLimit), fewer than a new CloudNativePG cluster's bootstrap takes.
# No provider waits on a custom resource's condition without its CRD being installed at plan
# time, so this asks kubectl (README.md: prerequisites). Runs again when the Cluster changes.
resource "terraform_data" "database_ready" {
  for_each = local.database_ids

  triggers_replace = sha256(local.manifests[each.value])

  provisioner "local-exec" {
    interpreter = ["/bin/sh", "-c"]
    command     = "kubectl --kubeconfig \"$KUBECONFIG_PATH\" $${KUBE_CONTEXT:+--context \"$KUBE_CONTEXT\"} --namespace \"$NAMESPACE\" wait --for=condition=Ready --timeout=\"$TIMEOUT\" \"clusters.postgresql.cnpg.io/$NAME\""
    environment = {
      KUBECONFIG_PATH = pathexpand(var.kubeconfig_path)
      KUBE_CONTEXT    = var.kube_context == null ? "" : var.kube_context
      NAMESPACE       = split("/", each.value)[2]
      NAME            = split("/", each.value)[3]
      TIMEOUT         = var.database_timeout
    }
  }

  depends_on = [kustomization_resource.operator_objects]
}

# 3c. The migration Job, before any Deployment, waited for until it completes.
#
# kustomization_resource's `wait` only covers Deployments, StatefulSets and DaemonSets, and
# kubernetes_job_v1 (wait_for_completion) would restate the Job in HCL; kubernetes_manifest
# applies the overlay's own Job and waits for its Complete condition. Each image tag names its
# own Job (obol-migrate-<tag>): a new release is a new Job, and the previous one is deleted. A
# Job's pod template is immutable, so a changed Job under the same name is replaced:
# terraform_data carries the manifest's hash and replace_triggered_by recreates the Job.
resource "terraform_data" "migration_manifest" {
  for_each = local.migration_ids

  input = sha256(local.manifests[each.value])
}

resource "kubernetes_manifest" "migration" {
  for_each = local.migration_ids

  manifest = jsondecode(local.manifests[each.value])

  # Set by the Job controller, not by us.
  computed_fields = [
    "metadata.annotations",
    "metadata.labels",
    "spec.selector",
    "spec.template.metadata.labels",
  ]

  wait {
    condition {
      type   = "Complete"
      status = "True"
    }
  }

  timeouts {
    create = var.migration_timeout
    update = var.migration_timeout
    delete = "5m"
  }

  lifecycle {
    replace_triggered_by = [terraform_data.migration_manifest[each.key]]
  }

  depends_on = [
    kustomization_resource.plain,
    kustomization_resource.operator_objects,
    terraform_data.database_ready,
  ]
}

# 3d. The Deployments (and any StatefulSet or DaemonSet), after the migrations, waited for
# until their pods are ready.
resource "kustomization_resource" "workloads" {
  for_each = local.workload_ids

  manifest = local.manifests[each.value]
  wait     = true

  timeouts {
    create = "10m"
    update = "10m"
  }

  depends_on = [
    kubernetes_manifest.migration,
    kustomization_resource.plain,
    kustomization_resource.operator_objects,
  ]
}

# 3e. Admission webhooks last, once what serves them runs.
resource "kustomization_resource" "prio2" {
  for_each = local.prio2

  manifest = local.manifests[each.value]

  depends_on = [kustomization_resource.workloads]
}
