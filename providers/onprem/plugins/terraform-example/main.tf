# The contract between poolshift-provider-terraform and a node pool module: these variables in, the
# `poolshift_pool` output echoing them out. `terraform_data` stands in for your machines (VMs, bare-metal
# reservations, their join to the cluster with the node label <node_label>=<pool_name>): replace it.
# With only terraform_data, the plugin runs end to end without a cloud (handy to try the protocol).

variable "pool_name" { type = string }
variable "kubernetes_version" { type = string }
variable "instance_type" { type = string }
variable "zones" { type = list(string) }
variable "labels" { type = map(string) }
variable "taints" { type = list(object({ key = string, value = string, effect = string })) }
variable "node_count" { type = number }
variable "autoscaling_enabled" { type = bool }
variable "min_size" { type = number }
variable "max_size" { type = number }

resource "terraform_data" "pool" {
  input = {
    name     = var.pool_name
    version  = var.kubernetes_version
    machines = var.node_count
  }
}

output "poolshift_pool" {
  value = {
    pool_name           = var.pool_name
    kubernetes_version  = var.kubernetes_version
    instance_type       = var.instance_type
    zones               = var.zones
    labels              = var.labels
    taints              = var.taints
    node_count          = var.node_count
    autoscaling_enabled = var.autoscaling_enabled
    min_size            = var.min_size
    max_size            = var.max_size
  }
}
