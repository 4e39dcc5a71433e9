"""The Kubernetes API of vmop: pydantic models that generate the CRDs (crds/*.yaml)."""

GROUP = "vmop.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
