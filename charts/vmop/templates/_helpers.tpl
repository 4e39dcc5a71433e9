{{/* Names and labels. The checks values.schema.json cannot express are in _validate.tpl. */}}

{{- define "vmop.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vmop.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Cluster-scoped objects (ClusterRoles, their bindings) carry the release namespace in their
name, so that releases of the same name in two namespaces do not collide. */}}
{{- define "vmop.clusterName" -}}
{{- printf "%s-%s" (include "vmop.fullname" .) .Release.Namespace | trunc 253 | trimSuffix "-" }}
{{- end }}

{{- define "vmop.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "vmop.selectorLabels" -}}
app.kubernetes.io/name: {{ include "vmop.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "vmop.labels" -}}
helm.sh/chart: {{ include "vmop.chart" . }}
{{ include "vmop.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: vmop
{{- end }}

{{- define "vmop.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "vmop.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- required "serviceAccount.name is required when serviceAccount.create is false: name an existing ServiceAccount" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "vmop.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{- define "vmop.peeringName" -}}
{{- default (include "vmop.fullname" .) .Values.peering.name }}
{{- end }}

{{/* Credentials from values: the chart creates a Secret. */}}
{{- define "vmop.credentialsFromValues" -}}
{{- $c := .Values.credentials }}
{{- if or $c.token $c.username $c.password $c.caCrt }}true{{ end }}
{{- end }}

{{/* The credentials Secret's name, or nothing when the compute API needs none. */}}
{{- define "vmop.credentialsSecret" -}}
{{- if .Values.credentials.existingSecret }}
{{- .Values.credentials.existingSecret }}
{{- else if include "vmop.credentialsFromValues" . }}
{{- printf "%s-credentials" (include "vmop.fullname" .) }}
{{- end }}
{{- end }}

{{/* The rules of vmop's own objects, in one namespace (Role) or all (ClusterRole). */}}
{{- define "vmop.objectRules" -}}
# The four kinds: watched, and patched for annotations and finalizers (kopf writes finalizers
# with a patch of the object, so no */finalizers subresource permission is needed for that).
- apiGroups: ["vmop.io"]
  resources: ["virtualmachines", "vmgroups", "vmmigrations", "vmpools"]
  verbs: ["get", "list", "watch", "patch"]
- apiGroups: ["vmop.io"]
  resources: ["virtualmachines/status", "vmgroups/status", "vmmigrations/status", "vmpools/status"]
  verbs: ["patch"]
# A VmPool's VirtualMachines are made and deleted by vmop; the admission policy lets its identity
# create, change the spec of, and delete only VirtualMachines a VmPool controls.
- apiGroups: ["vmop.io"]
  resources: ["virtualmachines"]
  verbs: ["create", "delete"]
# Their ownerReference blocks the pool's deletion (blockOwnerDeletion): where the apiserver enforces
# owner-reference permissions, that needs update of the owner's finalizers.
- apiGroups: ["vmop.io"]
  resources: ["vmpools/finalizers"]
  verbs: ["update"]
# Events about them (kopf posts core events; events.k8s.io for newer clients).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create"]
{{- end }}

{{- define "vmop.vmSecretRules" -}}
{{- if .Values.rbac.vmSecrets.enabled }}
# Secrets VirtualMachines name (spec.cloudInit, spec.console.passwordSecretRef), read by name:
# get only, never list or watch; with rbac.vmSecrets.names, only those names.
- apiGroups: [""]
  resources: ["secrets"]
  {{- with .Values.rbac.vmSecrets.names }}
  resourceNames: {{ toJson . }}
  {{- end }}
  verbs: ["get"]
{{- end }}
{{- end }}

{{- define "vmop.peeringRules" -}}
{{- if .Values.peering.enabled }}
# kopf peering: watch the peers, and keep-alive in the peering object's status.
{{- $resource := ternary "kopfpeerings" "clusterkopfpeerings" (not (empty .Values.watchNamespaces)) }}
- apiGroups: ["kopf.dev"]
  resources: [{{ $resource | quote }}]
  verbs: ["list", "watch"]
# Keep-alives go into this release's peering object only.
- apiGroups: ["kopf.dev"]
  resources: [{{ $resource | quote }}]
  resourceNames: [{{ include "vmop.peeringName" . | quote }}]
  verbs: ["get", "patch"]
{{- end }}
{{- end }}
