# Terraform and provider versions, pinned exactly: a provider upgrade is a reviewed change of
# this file (and of .terraform.lock.hcl, which `terraform init` writes and is committed).
terraform {
  # terraform_data (1.4), startswith/endswith (1.3) and replace_triggered_by (1.2) are used.
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    kubernetes = {
      source  = "hashicorp/kubernetes"
      version = "3.1.0"
    }
    helm = {
      source  = "hashicorp/helm"
      version = "3.0.2"
    }
    kustomization = {
      source  = "kbst/kustomization"
      version = "0.9.6"
    }
  }
}
