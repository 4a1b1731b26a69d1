output "namespace" {
  description = "Namespace Obol runs in."
  value       = var.namespace
}

output "overlay" {
  description = "Overlay applied."
  value       = var.overlay
}

output "gateway_url" {
  description = "The REST API's public URL: the gateway Ingress' host (ingress_host, or the overlay's own)."
  value = try(
    "https://${jsondecode(local.manifests["networking.k8s.io/Ingress/${var.namespace}/${var.ingress_name}"]).spec.rules[0].host}",
    "http://obol-gateway.${var.namespace}.svc.cluster.local:8080",
  )
}

output "gateway_service" {
  description = "The gateway Service (port http 8080), for kubectl port-forward."
  value       = "obol-gateway.${var.namespace}.svc.cluster.local:8080"
}

output "grafana_service" {
  description = "Grafana's Service; its admin password is in the Secret kube-prometheus-stack-grafana."
  value       = "${helm_release.kube_prometheus_stack.name}-grafana.${helm_release.kube_prometheus_stack.namespace}.svc.cluster.local:80"
}

output "prometheus_service" {
  description = "Prometheus' Service."
  value       = "${helm_release.kube_prometheus_stack.name}-prometheus.${helm_release.kube_prometheus_stack.namespace}.svc.cluster.local:9090"
}

output "vault_service" {
  description = "Vault's Service (its API and UI), the address the overlay's SecretStore uses."
  value       = "http://${helm_release.vault.name}.${helm_release.vault.namespace}.svc.cluster.local:8200"
}

output "migration_jobs" {
  description = "The migration Job(s) applied and waited for."
  value       = sort(tolist(local.migration_ids))
}
