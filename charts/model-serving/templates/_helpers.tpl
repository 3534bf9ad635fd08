{{/* model-<deployment id>: the Deployment, Service, HPA and Ingress name. */}}
{{- define "model-serving.name" -}}
model-{{ .Values.deploymentId }}
{{- end }}

{{/* model-<deployment id>-r<revision>: the Secret of one revision's pod-contract variables. */}}
{{- define "model-serving.secretName" -}}
model-{{ .Values.deploymentId }}-r{{ .Values.revision }}
{{- end }}

{{/* The labels of every object (podml.kubernetes.serving._labels). */}}
{{- define "model-serving.labels" -}}
app.kubernetes.io/name: model-serving
app.kubernetes.io/instance: {{ include "model-serving.name" . }}
app.kubernetes.io/managed-by: podml
podml/deployment: {{ .Values.deploymentId | quote }}
podml/user: {{ .Values.user | quote }}
{{- range $key, $value := .Values.extraLabels }}
{{ $key }}: {{ $value | quote }}
{{- end }}
{{- end }}

{{- define "model-serving.metadata" -}}
name: {{ include "model-serving.name" . }}
namespace: {{ .Release.Namespace }}
labels:
  {{- include "model-serving.labels" . | nindent 2 }}
{{- end }}
