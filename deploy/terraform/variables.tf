# ------------------------------------------------------------------ the cluster
variable "kubeconfig_path" {
  description = "Path to the kubeconfig of the target cluster."
  type        = string
  default     = "~/.kube/config"
}

variable "kube_context" {
  description = "Context of the kubeconfig to use; null uses its current context."
  type        = string
  default     = null
}

# ------------------------------------------------------------------ Obol
variable "namespace" {
  description = "Namespace the overlay deploys Obol into (the base's is `obol`); must be the overlay's own."
  type        = string
  default     = "obol"

  validation {
    condition     = can(regex("^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$", var.namespace))
    error_message = "namespace must be a DNS label (lowercase letters, digits and '-', at most 63)."
  }
}

variable "overlay" {
  description = "Kustomize overlay to apply: deploy/k8s/overlays/<overlay>."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.overlay)
    error_message = "overlay must be one of dev, staging, prod."
  }
}

variable "image_name" {
  description = "Image name the overlay's containers have after its own `images` entry (kustomize matches on it to set the tag)."
  type        = string
  default     = "registry.example.com/obol/obol"
}

variable "image_tag" {
  description = "Tag of the obol image to deploy (every role and the migration Job run the same image)."
  type        = string

  # Lowercase and short, because it also names the migration Job (obol-migrate-<tag>, at most
  # 63 characters, a DNS label).
  validation {
    condition     = can(regex("^[a-z0-9]([a-z0-9.-]{0,48}[a-z0-9])?$", var.image_tag))
    error_message = "image_tag must be lowercase letters, digits, '.' and '-' (at most 50), e.g. 0.2.0 or sha-1a2b3c4."
  }
}

variable "ingress_host" {
  description = "Public host name of the gateway's Ingress; null keeps the overlay's own."
  type        = string
  default     = null

  validation {
    condition     = var.ingress_host == null || can(regex("^([a-z0-9]([-a-z0-9]*[a-z0-9])?\\.)+[a-z]{2,}$", var.ingress_host))
    error_message = "ingress_host must be a lowercase DNS name such as pay.example.com."
  }
}

variable "ingress_name" {
  description = "Name of the overlay's gateway Ingress, whose host ingress_host replaces."
  type        = string
  default     = "obol-gateway"
}

variable "database_timeout" {
  description = "How long Terraform waits for the overlay's CloudNativePG Cluster to be Ready before the migrations."
  type        = string
  default     = "15m"
}

variable "migration_timeout" {
  description = "How long Terraform waits for the migration Job to complete before failing."
  type        = string
  default     = "15m"
}

# ------------------------------------------------------------------ Vault
variable "vault_replicas" {
  description = "Vault server replicas (HA with integrated Raft storage) for staging and prod; dev runs one in-memory dev server."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.vault_replicas)
    error_message = "vault_replicas must be 1, 3 or 5 (a Raft quorum)."
  }
}

# ------------------------------------------------------------------ chart versions
# Exact versions only (no ranges): a chart upgrade is a reviewed change of a default here or
# an explicit -var. deploy/checks/terraform.sh fails on a default that is not exact.
variable "vault_chart_version" {
  description = "hashicorp/vault chart version (https://helm.releases.hashicorp.com)."
  type        = string
  default     = "0.34.0"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.vault_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}

variable "external_secrets_chart_version" {
  description = "external-secrets chart version (https://charts.external-secrets.io)."
  type        = string
  default     = "2.10.0"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.external_secrets_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}

variable "cert_manager_chart_version" {
  description = "jetstack/cert-manager chart version (https://charts.jetstack.io)."
  type        = string
  default     = "v1.21.2"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.cert_manager_chart_version))
    error_message = "Pin an exact chart version (vx.y.z)."
  }
}

variable "cloudnative_pg_chart_version" {
  description = "cloudnative-pg operator chart version (https://cloudnative-pg.github.io/charts)."
  type        = string
  default     = "0.28.3"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.cloudnative_pg_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}

variable "kube_prometheus_stack_chart_version" {
  description = "prometheus-community/kube-prometheus-stack chart version (https://prometheus-community.github.io/helm-charts)."
  type        = string
  default     = "84.1.1"

  validation {
    condition     = can(regex("^v?[0-9]+\\.[0-9]+\\.[0-9]+$", var.kube_prometheus_stack_chart_version))
    error_message = "Pin an exact chart version (x.y.z)."
  }
}
