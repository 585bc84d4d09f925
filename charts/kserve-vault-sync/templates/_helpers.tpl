{{/*
Names. kvs.name is the chart's name (nameOverride); kvs.fullname names the
namespaced objects of a release (fullnameOverride, else "<release>" when it
already contains the name, else "<release>-<name>"), 63 characters at most.
Cluster-scoped objects (ClusterRole, ClusterRoleBinding) also carry the
release namespace: two releases of the same name in two namespaces must not
share them.
*/}}
{{- define "kvs.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kvs.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* RBAC names may be up to 253 characters: no truncation needed. */}}
{{- define "kvs.clusterName" -}}
{{- printf "%s-%s" (include "kvs.fullname" .) .Release.Namespace -}}
{{- end -}}

{{- define "kvs.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kvs.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kvs.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/*
part-of is the same for every release: the ServiceMonitor copies it onto the
scraped series and the KServeVaultSyncDown alert selects on it.
*/}}
{{- define "kvs.labels" -}}
helm.sh/chart: {{ include "kvs.chart" . }}
{{ include "kvs.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: kserve-vault-sync
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "kvs.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kvs.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kvs.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* "true" when rolloutRBAC is on, or when any target of the mapping sets rollout: true. */}}
{{- define "kvs.rolloutRBAC" -}}
{{- $on := eq (toString .Values.rolloutRBAC) "true" -}}
{{- if eq (toString .Values.rolloutRBAC) "auto" -}}
{{- range $cred := (.Values.config.credentials | default list) -}}
{{- range $target := ($cred.targets | default list) -}}
{{- if $target.rollout -}}{{- $on = true -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if $on -}}true{{- end -}}
{{- end -}}

{{/* "true" when a monitoring object is to be rendered: enabled, or "auto" and its CRD is served. */}}
{{- define "kvs.monitoringOn" -}}
{{- $enabled := toString .enabled -}}
{{- if or (eq $enabled "true") (and (eq $enabled "auto") (.root.Capabilities.APIVersions.Has .api)) -}}true{{- end -}}
{{- end -}}
