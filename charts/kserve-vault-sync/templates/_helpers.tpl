{{- define "kvs.name" -}}{{ .Release.Name }}{{- end -}}
{{- define "kvs.labels" -}}
app.kubernetes.io/name: kserve-vault-sync
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}
{{- define "kvs.selector" -}}
app.kubernetes.io/name: kserve-vault-sync
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}
