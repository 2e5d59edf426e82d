{{/* Chart name, release-scoped full name, labels. */}}
{{- define "botgateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "botgateway.fullname" -}}
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

{{- define "botgateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "botgateway.labels" -}}
helm.sh/chart: {{ include "botgateway.chart" . }}
app.kubernetes.io/name: {{ include "botgateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: botgateway
{{- end }}

{{- define "botgateway.operatorSelector" -}}
app.kubernetes.io/name: {{ include "botgateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "botgateway.operatorName" -}}
{{- printf "%s-operator" (include "botgateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "botgateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "botgateway.operatorName" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "botgateway.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The namespaces the operator watches (the release namespace when none are given). */}}
{{- define "botgateway.watchNamespaces" -}}
{{- if .Values.operator.watchNamespaces }}
{{- join "," .Values.operator.watchNamespaces }}
{{- else }}
{{- .Release.Namespace }}
{{- end }}
{{- end }}

{{/* Where postgresql.enabled writes its DATABASE_URL Secret: the release namespace, each watched
namespace, each namespace of a botGateways entry and postgresql.secretNamespaces, comma-separated. */}}
{{- define "botgateway.databaseSecretNamespaces" -}}
{{- $namespaces := list .Release.Namespace }}
{{- $namespaces = concat $namespaces .Values.operator.watchNamespaces }}
{{- range .Values.botGateways }}
{{- $namespaces = append $namespaces (default $.Release.Namespace .namespace) }}
{{- end }}
{{- $namespaces = concat $namespaces .Values.postgresql.secretNamespaces }}
{{- $namespaces | uniq | join "," }}
{{- end }}

{{- define "botgateway.restrictedContainer" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "botgateway.restrictedPod" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
