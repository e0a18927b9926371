//! End-to-end tests on a real control plane: kube-apiserver, etcd, kube-controller-manager, kube-scheduler
//! built from the Go module proxy (`testenv/build.sh`), kwok as the kubelets. The tests of this binary share
//! one control plane, each in its own namespaces and nodes (a scope prefix). Each is checked by an
//! independent watcher of pods and PDBs (`poolshift_testenv::watch`), not by kubesim's recorder.

mod kubectl;
mod plan;
mod rbac;
mod support;
mod upgrade;
