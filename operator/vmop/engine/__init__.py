"""The reconcile engine (issue 19, under construction): a keyed work queue per kind, and one rate
limit on the operator's Kubernetes writes. No kopf, no Kubernetes client: handlers add keys,
passes report a Result (docs/architecture.md, "The engine")."""

from vmop.engine.backoff import Backoff, RequeueLimiter, TokenBucket
from vmop.engine.clock import Clock, MonotonicClock
from vmop.engine.queue import Done, Failed, RequeueAfter, Result, Resync, WorkQueue
from vmop.engine.ratelimit import Answered, Overloaded, Permit, WriteLimiter, WriteOutcome, outcome_of_status

__all__ = [
    "Answered",
    "Backoff",
    "Clock",
    "Done",
    "Failed",
    "MonotonicClock",
    "Overloaded",
    "Permit",
    "RequeueAfter",
    "RequeueLimiter",
    "Result",
    "Resync",
    "TokenBucket",
    "WorkQueue",
    "WriteLimiter",
    "WriteOutcome",
    "outcome_of_status",
]
