{{- define "podml.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}
{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}
{{- end -}}
{{- end }}

{{- define "podml.labels" -}}
app.kubernetes.io/name: podml
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{- define "podml.selector" -}}
app.kubernetes.io/name: podml
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The settings both the API and the worker read (PODML_* variables). */}}
{{- define "podml.env" -}}
- name: PODML_ENV
  value: production
- name: PODML_PUBLIC_URL
  value: {{ .Values.publicUrl | quote }}
- name: PODML_DATA_DIR
  value: /tmp/podml
- name: PODML_SECRET_KEY
  valueFrom:
    secretKeyRef: {name: {{ .Values.secrets.secretKey.name }}, key: {{ .Values.secrets.secretKey.key }}}
- name: PODML_DATABASE_URL
  valueFrom:
    secretKeyRef: {name: {{ .Values.secrets.databaseUrl.name }}, key: {{ .Values.secrets.databaseUrl.key }}}
- name: PODML_STORAGE_BACKEND
  value: s3
- name: PODML_S3_BUCKET
  value: {{ .Values.storage.bucket | quote }}
- name: PODML_S3_REGION
  value: {{ .Values.storage.region | quote }}
{{- with .Values.storage.endpointUrl }}
- name: PODML_S3_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.storage.publicEndpointUrl }}
- name: PODML_S3_PUBLIC_ENDPOINT_URL
  value: {{ . | quote }}
{{- end }}
{{- with .Values.secrets.s3.name }}
- name: PODML_S3_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.secrets.s3.accessKeyIdKey }}}
- name: PODML_S3_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef: {name: {{ . }}, key: {{ $.Values.secrets.s3.secretAccessKeyKey }}}
{{- end }}
- name: PODML_AUTH_MODE
  value: {{ .Values.auth.mode | quote }}
- name: PODML_ALLOW_REGISTRATION
  value: {{ .Values.auth.allowRegistration | quote }}
{{- if eq .Values.auth.mode "cognito" }}
- name: PODML_COGNITO_REGION
  value: {{ .Values.auth.cognito.region | quote }}
- name: PODML_COGNITO_USER_POOL_ID
  value: {{ required "auth.cognito.userPoolId is required in cognito mode" .Values.auth.cognito.userPoolId | quote }}
- name: PODML_COGNITO_CLIENT_ID
  value: {{ required "auth.cognito.clientId is required in cognito mode" .Values.auth.cognito.clientId | quote }}
- name: PODML_COGNITO_AUTH_FLOW
  value: {{ .Values.auth.cognito.authFlow | quote }}
{{- end }}
- name: PODML_EXECUTOR
  value: {{ .Values.executor.kind | quote }}
- name: PODML_TRAINER_IMAGE
  value: {{ .Values.executor.trainerImage | quote }}
- name: PODML_SERVING_IMAGE
  value: {{ .Values.executor.servingImage | quote }}
{{- /* The users' NetworkPolicies admit the gateway from the release's own namespace. */}}
- name: PODML_KUBERNETES_PLATFORM_NAMESPACE
  value: {{ .Release.Namespace | quote }}
- name: PODML_KUBERNETES_INGRESS_NAMESPACE
  value: {{ .Values.executor.publicIngress.controllerNamespace | quote }}
- name: PODML_KUBERNETES_INGRESS_CLASS
  value: {{ .Values.executor.publicIngress.className | default .Values.ingress.className | quote }}
{{- $host := .Values.executor.publicIngress.host | default (ternary .Values.ingress.host "" .Values.ingress.enabled) }}
{{- with $host }}
- name: PODML_KUBERNETES_INGRESS_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.executor.egress }}
- name: PODML_KUBERNETES_OBJECT_STORE_CIDRS
  value: {{ join "," .objectStore.cidrs | quote }}
- name: PODML_KUBERNETES_OBJECT_STORE_PORTS
  value: {{ join "," .objectStore.ports | quote }}
- name: PODML_KUBERNETES_PACKAGE_INDEX_CIDRS
  value: {{ join "," .packageIndex.cidrs | quote }}
- name: PODML_KUBERNETES_PACKAGE_INDEX_PORTS
  value: {{ join "," .packageIndex.ports | quote }}
{{- end }}
{{- range $key, $value := .Values.extraEnv }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end }}

{{/* One container (API or worker): restricted security context, scratch space in /tmp. */}}
{{- define "podml.pod" -}}
serviceAccountName: {{ include "podml.fullname" .root }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  fsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
containers:
  - name: {{ .component }}
    image: "{{ .root.Values.image.repository }}:{{ .root.Values.image.tag }}"
    imagePullPolicy: {{ .root.Values.image.pullPolicy }}
    args: {{ .args }}
    env:
      {{- include "podml.env" .root | nindent 6 }}
    {{- if eq .component "api" }}
    ports:
      - name: http
        containerPort: 8000
        protocol: TCP
    livenessProbe:
      httpGet: {path: /healthz, port: http}
      periodSeconds: 10
    readinessProbe:
      httpGet: {path: /readyz, port: http}
      periodSeconds: 5
    {{- end }}
    resources:
      {{- toYaml .resources | nindent 6 }}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities:
        drop: ["ALL"]
    volumeMounts:
      - name: tmp
        mountPath: /tmp
volumes:
  - name: tmp
    emptyDir: {}
{{- end }}
