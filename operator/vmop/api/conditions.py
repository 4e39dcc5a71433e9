"""Conditions as Kubernetes API conventions define them; types and reasons as constants."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from vmop.api.base import ApiModel

READY = "Ready"
SYNCED = "Synced"
RESTART_REQUIRED = "RestartRequired"


class Reason:
    """Machine-readable reasons (CamelCase), one place for all kinds."""

    AVAILABLE = "Available"
    CREATING = "Creating"
    PROVISIONING = "Provisioning"
    POWERING = "PowerTransition"
    UPDATING = "Updating"
    WAITING_FOR_ACTION = "WaitingForPlatformAction"
    RECONCILED = "ReconcileSuccess"
    COMPUTE_ERROR = "ComputeError"
    UNAVAILABLE = "PlatformUnavailable"
    NOT_ANSWERING = "PlatformNotAnswering"  # no answer for two resync periods: Synced Unknown
    CONFLICT = "NameConflict"
    UNSUPPORTED_CHANGE = "UnsupportedChange"
    PARENT_CYCLE = "ParentCycle"
    LOST = "Lost"
    INVALID_SPEC = "InvalidSpec"  # a value the compute API's models refuse: fix the spec
    PAUSED = "ReconcilePaused"
    OBSERVE_ONLY = "ObserveOnly"
    DELETING = "Deleting"
    RELEASED = "Released"  # the finalizer let go without touching the platform
    PENDING_CHANGES = "PendingPowerCycle"
    RESTART_PENDING = "RestartPending"  # a vmop.io/restart request waits (for the guest agent)
    NO_CHANGES = "NoPendingChanges"
    STOPPED = "Stopped"
    GROUP_NOT_READY = "GroupNotReady"
    MIGRATING = "Migrating"
    CREATE_IN_DOUBT = "CreateInDoubt"  # a create's outcome is unknown: the platform may still finish it
    IDENTITY_IN_DOUBT = "IdentityInDoubt"  # the VM is missing but may be elsewhere (a migration, a rename)
    ALREADY_MANAGED = "AlreadyManaged"  # another VirtualMachine object manages this VM
    DUPLICATE_GUARD = "DuplicateGuard"  # a second create within the guard window waits for a person
    SECRET_NOT_FOUND = "SecretNotFound"  # a Secret the spec names is missing or vmop may not read it
    SECRET_INVALID = "SecretInvalid"  # the Secret lacks the key the spec names, or its content is unusable
    # VmMigration: what a pending one waits for, and how a finished one ended.
    VM_NOT_FOUND = "VirtualMachineNotFound"
    VM_NOT_READY = "VirtualMachineNotReady"
    MIGRATION_ACTIVE = "AnotherMigrationActive"
    SUCCEEDED = "Succeeded"
    MIGRATION_FAILED = "MigrationFailed"
    ABORTED = "Aborted"
    TIMED_OUT = "TimedOut"
    # VmPool: what its Progressing condition says.
    SCALING = "Scaling"
    ROLLING_UPDATE = "RollingUpdate"
    WAITING_FOR_READY = "WaitingForReady"
    ROLLOUT_COMPLETE = "RolloutComplete"
    ON_DELETE = "WaitingForDelete"  # OnDelete: VMs on an older template stay until deleted
    # An object's spec.providerRef (or the default provider) cannot be used: nothing is called.
    PROVIDER_NOT_FOUND = "ProviderNotFound"  # no such ComputeProvider (or this vmop watches none)
    PROVIDER_NOT_ALLOWED = "ProviderNotAllowed"  # its allowedNamespaces leave out the object's namespace
    PROVIDER_AMBIGUOUS = "ProviderAmbiguous"  # no providerRef, and more than one provider is marked default
    PROVIDER_NOT_READY = "ProviderNotReady"  # its credentials Secret cannot be read or used
    PROVIDER_MISMATCH = "ProviderMismatch"  # a VmMigration on another provider than its VirtualMachine
    # A ComputeProvider's Ready condition.
    AUTHENTICATION_FAILED = "AuthenticationFailed"  # the platform answered 401/403
    IN_USE = "InUse"  # being deleted while objects still use it


# Synced=False for one of these needs a person to look (a spec change, a name taken on the
# platform, a VM gone or in doubt): each time one begins, a Warning Event says so too
# (reconcile/conditions.py), once, not at every pass.
WARNED_REASONS: frozenset[str] = frozenset(
    {
        Reason.UNSUPPORTED_CHANGE,
        Reason.PARENT_CYCLE,
        Reason.CONFLICT,
        Reason.INVALID_SPEC,
        Reason.LOST,
        Reason.IDENTITY_IN_DOUBT,
        Reason.CREATE_IN_DOUBT,
        Reason.ALREADY_MANAGED,
        Reason.SECRET_NOT_FOUND,
        Reason.SECRET_INVALID,
        Reason.PROVIDER_NOT_FOUND,
        Reason.PROVIDER_NOT_ALLOWED,
        Reason.PROVIDER_AMBIGUOUS,
        Reason.PROVIDER_NOT_READY,
        Reason.PROVIDER_MISMATCH,
    }
)


class Condition(ApiModel):
    """The latest observation of one aspect of the object's state."""

    type: str = Field(max_length=64, description="which aspect: Ready, Synced, RestartRequired, Complete, Failed")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown")
    reason: str = Field(max_length=128, description="why, in one CamelCase word (machine-readable)")
    message: str = Field(default="", max_length=4096, description="why, for people")
    last_transition_time: str = Field(description="when status last changed (RFC 3339)")
    observed_generation: int = Field(default=0, ge=0, description="the .metadata.generation this was set for")


class LastError(ApiModel):
    """The platform's own words about the last failed call."""

    scode: int | None = Field(
        default=None, description="the compute API's error code; empty when the platform did not answer"
    )
    message: str = Field(default="", description="the platform's English message")
    message_cn: str = Field(default="", description="the platform's Chinese message")
    desc: str = Field(default="", description="the platform's detail")
    operation: str = Field(default="", description="the compute API endpoint that failed")
    time: str = Field(default="", description="when it failed (RFC 3339)")


class Progress(ApiModel):
    """How far a long platform action (import, clone, export, migration) has come."""

    operation: str = Field(description="the platform action: import, clone, export, migration")
    percent: int = Field(ge=0, le=100, description="percent done")
