{{/* Cross-field rules of the values, which values.schema.json cannot express with a clear message.
Run once, by templates/validate.yaml: `fail` stops the render, and helm reports it there. */}}
{{- define "vmop.validate" -}}
{{- $c := .Values.credentials }}
{{- if and $c.existingSecret (include "vmop.credentialsFromValues" .) }}
{{- fail "credentials: set either existingSecret or token/username/password/caCrt, not both (put ca.crt into the existing Secret)" }}
{{- end }}
{{- if and $c.token (or $c.username $c.password) }}
{{- fail "credentials: set token, or username and password, not both" }}
{{- end }}
{{- if and (or $c.username $c.password) (not (and $c.username $c.password)) }}
{{- fail "credentials: username and password go together; set both" }}
{{- end }}
{{- if and $c.caCrt (not (or $c.token $c.username)) }}
{{- fail "credentials: caCrt alone makes no credentials; add token, or username and password" }}
{{- end }}
{{- if and (gt (int .Values.shards) 1) .Values.peering.enabled }}
{{- fail "shards: each shard's Lease keeps a second pod off it, and kopf peering would pause the shards of one peering name: set peering.enabled=false with shards > 1" }}
{{- end }}
{{- if and (gt (int .Values.shards) 1) (ne (int .Values.replicas) 1) }}
{{- fail "shards: the StatefulSet runs one pod per shard; leave replicas at 1 (0 would stop every shard: set shards=1, replicas=0)" }}
{{- end }}
{{- $pdb := .Values.podDisruptionBudget }}
{{- if and $pdb.enabled (not (kindIs "invalid" $pdb.minAvailable)) (not (kindIs "invalid" $pdb.maxUnavailable)) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable, not both (set the other to null)" }}
{{- end }}
{{- if and $pdb.enabled (kindIs "invalid" $pdb.minAvailable) (kindIs "invalid" $pdb.maxUnavailable) }}
{{- fail "podDisruptionBudget: set minAvailable or maxUnavailable" }}
{{- end }}
{{- $metrics := .Values.metrics }}
{{- if and $metrics.serviceMonitor.enabled (not $metrics.service.enabled) }}
{{- fail "metrics: serviceMonitor.enabled needs service.enabled (the ServiceMonitor scrapes the metrics Service)" }}
{{- end }}
{{- if and $metrics.prometheusRule.enabled (not $metrics.serviceMonitor.enabled) }}
{{- fail "metrics: prometheusRule.enabled needs serviceMonitor.enabled (the alerts select the series it scrapes by their job label)" }}
{{- end }}
{{- end }}
