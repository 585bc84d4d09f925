"""The project's dev environment: real OpenBao, etcd and kube-apiserver on loopback.

Shared by the demo, the test fixtures and the benchmark (docs/development.md).
This is test infrastructure, not part of the shipped ``syncer`` package.
"""
