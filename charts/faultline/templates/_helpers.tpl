{{/*
Object names are fixed ("faultline-…") rather than derived from the release
name: the hub looks a member's daemon up by the name faultline-daemon
(federation.DaemonSetName), and the cluster-scoped objects (CRDs,
ClusterRoles) allow one installation per cluster anyway.
*/}}

{{- define "faultline.hub.name" -}}faultline-hub{{- end }}
{{- define "faultline.daemon.name" -}}faultline-daemon{{- end }}
{{- define "faultline.memberAccess.name" -}}faultline-member-access{{- end }}

{{/* Labels on every object, but the instance label (selector labels carry it). */}}
{{- define "faultline.baseLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/part-of: faultline
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Labels of objects that belong to no single component. */}}
{{- define "faultline.labels" -}}
{{ include "faultline.baseLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Selector labels of the hub's pods; never change them (selectors are immutable). */}}
{{- define "faultline.hub.selectorLabels" -}}
app.kubernetes.io/name: faultline-hub
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "faultline.hub.labels" -}}
{{ include "faultline.baseLabels" . }}
{{ include "faultline.hub.selectorLabels" . }}
app.kubernetes.io/component: hub
{{- end }}

{{/* Selector labels of the daemon's pods. */}}
{{- define "faultline.daemon.selectorLabels" -}}
app.kubernetes.io/name: faultline-daemon
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "faultline.daemon.labels" -}}
{{ include "faultline.baseLabels" . }}
{{ include "faultline.daemon.selectorLabels" . }}
app.kubernetes.io/component: daemon
{{- end }}

{{/* image renders repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "faultline.image" -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .chart.AppVersion) }}
{{- end }}

{{/* Leader election is needed as soon as more than one hub runs. */}}
{{- define "faultline.hub.leaderElection" -}}
{{- if or .Values.hub.leaderElection.enabled (gt (int .Values.hub.replicas) 1) }}true{{ end }}
{{- end }}

{{/* Path of the CRI socket on the node, from the unix:// endpoint. */}}
{{- define "faultline.daemon.criSocket" -}}
{{- if not (hasPrefix "unix://" .Values.daemon.runtimeEndpoint) }}
{{- fail "daemon.runtimeEndpoint must be a unix:// socket: the daemon reaches the node's runtime through a hostPath mount" }}
{{- end }}
{{- trimPrefix "unix://" .Values.daemon.runtimeEndpoint }}
{{- end }}

{{/* Where the hub mounts the admission webhook's serving certificate. */}}
{{- define "faultline.hub.webhookCertDir" -}}/etc/faultline/admission-tls{{- end }}
