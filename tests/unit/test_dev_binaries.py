"""The pure parts of the binaries build: what is read from k8s.io/kubernetes's go.mod."""

from __future__ import annotations

import pytest

from vmop.dev.binaries import BuildError, etcd_version, kubernetes_wrapper_gomod, staging_modules

# Trimmed from k8s.io/kubernetes v1.37.2's go.mod, keeping every kind of line that matters.
KUBERNETES_GOMOD = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
	github.com/JeffAshton/win_pdh v0.0.0-20161109143554-76bb4ee9f0ab
	go.etcd.io/etcd/api/v3 v3.7.0
	go.etcd.io/etcd/client/pkg/v3 v3.7.0
	go.etcd.io/etcd/client/v3 v3.7.0
	k8s.io/api v0.0.0
	k8s.io/client-go v0.0.0
	k8s.io/klog/v2 v2.140.0
	k8s.io/kube-openapi v0.0.0-20260721132016-d427ff9ee9ad
	k8s.io/utils v0.0.0-20260626114624-be93311217bd
)

require (
	go.etcd.io/etcd/server/v3 v3.7.0 // indirect
	k8s.io/kms v0.0.0 // indirect
)

replace (
	k8s.io/api => ./staging/src/k8s.io/api
	k8s.io/client-go => ./staging/src/k8s.io/client-go
	k8s.io/kms => ./staging/src/k8s.io/kms
	k8s.io/sample-controller => ./staging/src/k8s.io/sample-controller
)
"""


def test_staging_modules_are_the_locally_replaced_ones() -> None:
    # Not k8s.io/klog or the pseudo-versioned k8s.io/kube-openapi / k8s.io/utils: those are
    # real published versions. k8s.io/kms counts although only required indirectly.
    assert staging_modules(KUBERNETES_GOMOD) == [
        "k8s.io/api",
        "k8s.io/client-go",
        "k8s.io/kms",
        "k8s.io/sample-controller",
    ]


def test_etcd_version_is_the_client_pinned_by_kubernetes() -> None:
    assert etcd_version(KUBERNETES_GOMOD) == "v3.7.0"


def test_etcd_version_missing_is_an_error() -> None:
    with pytest.raises(BuildError, match="etcd version"):
        etcd_version("module k8s.io/kubernetes\n\ngo 1.26.0\n")


def test_wrapper_gomod_pins_staging_to_the_release_tag() -> None:
    gomod = kubernetes_wrapper_gomod(KUBERNETES_GOMOD, "v1.37.2")
    assert "\ngo 1.26.0\n" in gomod
    assert "require k8s.io/kubernetes v1.37.2\n" in gomod
    assert "\tk8s.io/client-go => k8s.io/client-go v0.37.2\n" in gomod
    assert "\tk8s.io/kms => k8s.io/kms v0.37.2\n" in gomod
    assert "k8s.io/klog" not in gomod
