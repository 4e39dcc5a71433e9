"""The compute API client. Knows nothing of Kubernetes."""

from vmop.compute.client import BatchResults, CallRecord, ComputeClient, ItemResult
from vmop.compute.errors import ComputeError, ComputeProtocolError, ComputeUnavailable, is_transient
from vmop.compute.scodes import Scode
from vmop.compute.settings import ComputeSettings, RetryPolicy

__all__ = [
    "BatchResults",
    "CallRecord",
    "ComputeClient",
    "ComputeError",
    "ComputeProtocolError",
    "ComputeSettings",
    "ComputeUnavailable",
    "ItemResult",
    "RetryPolicy",
    "Scode",
    "is_transient",
]
