"""vmop's names on Kubernetes objects: its finalizer and the annotations it reads or writes."""

from __future__ import annotations

FINALIZER = "vmop.io/finalizer"

# Written by vmop: the platform uuid of the object's VM or group (it survives a backup/restore
# that drops status).
ANNOTATION_UUID = "vmop.io/uuid"
# A VmGroup's create mark, set before the create call. A VirtualMachine's lives in
# status.createPendingSince; a mark an older vmop left here on one is honoured, then cleared.
ANNOTATION_CREATE_PENDING = "vmop.io/create-pending"
# Written by the VmMigration controller: the name of a migration in progress (the VM controller
# then holds still). Where the VM is lives in status.cluster/tenant only.
ANNOTATION_MIGRATION = "vmop.io/migration"
ANNOTATION_MIGRATION_STARTED = "vmop.io/migration-started"

# A person's knobs.
ANNOTATION_PAUSED = "vmop.io/paused"
ANNOTATION_RECONCILE_REQUEST = "vmop.io/reconcile-request"
# A new value asks for one reboot of the running VM (spec.restartMethod says how); the handled one
# is in status.restartRequested.
ANNOTATION_RESTART = "vmop.io/restart"
ANNOTATION_FORCE_RELEASE = "vmop.io/force-release"
# The go-ahead for a second create within the duplicate guard's window: the lost uuid.
ANNOTATION_CONFIRM_RECREATE = "vmop.io/confirm-recreate"
# On a namespace: what deleting its objects does to their platform VMs (Delete or Retain).
ANNOTATION_DELETION_POLICY = "vmop.io/deletion-policy"

# On the VirtualMachines of a VmPool: the pool's name, and the hash of the template a VM was made
# from or last updated to (reconcile/vmpool.template_hash).
LABEL_POOL = "vmop.io/pool"
LABEL_POOL_TEMPLATE_HASH = "vmop.io/pool-template-hash"

# On the Leases of shards (runtime/lease.py): the Lease name every shard's Lease shares (to list
# them), and the shard count of the process holding one.
LABEL_LEASE = "vmop.io/lease"
ANNOTATION_SHARDS = "vmop.io/shards"
