{{/*
The chart name, truncated to 63 characters (a label value's limit).
*/}}
{{- define "operationrun-controller.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The full name of the release's objects: the release name, with the chart name
appended unless the release name already contains it.
*/}}
{{- define "operationrun-controller.fullname" -}}
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

{{- define "operationrun-controller.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels on every object.
*/}}
{{- define "operationrun-controller.labels" -}}
helm.sh/chart: {{ include "operationrun-controller.chart" . }}
{{ include "operationrun-controller.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/*
Labels that select the controller pods; never change them in an upgrade (a
Deployment's selector is immutable).
*/}}
{{- define "operationrun-controller.selectorLabels" -}}
app.kubernetes.io/name: {{ include "operationrun-controller.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The ServiceAccount the controller runs as.
*/}}
{{- define "operationrun-controller.serviceAccountName" -}}
{{- include "operationrun-controller.fullname" . }}
{{- end }}

{{/*
The Lease the replicas elect a leader on.
*/}}
{{- define "operationrun-controller.leaseName" -}}
{{- default (include "operationrun-controller.fullname" .) .Values.leaderElection.leaseName }}
{{- end }}

{{/*
The image reference: repository@digest when a digest is set, else
repository:tag (tag defaulting to the chart's appVersion).
*/}}
{{- define "operationrun-controller.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Rules the controller needs in every namespace it watches (docs/operating.md#rbac): read the
three kinds, patch the status of OperationRuns (server-side apply of its
conditions), and record Events on them. Nothing else: it never writes a
run's spec, nor any BackupSet or BaselineSnapshot.
*/}}
{{- define "operationrun-controller.watchRules" -}}
- apiGroups: ["ops.tenantatlas.io"]
  resources: ["operationruns", "backupsets", "baselinesnapshots"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["ops.tenantatlas.io"]
  resources: ["operationruns/status"]
  verbs: ["patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end }}

{{/*
Fails the render on combinations that cannot work; values.schema.json checks
each value on its own.
*/}}
{{- define "operationrun-controller.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.leaderElection.enabled) }}
{{- fail "replicaCount > 1 requires leaderElection.enabled: without a leader every replica would decide and emit Events for every run" }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (ge (int .Values.podDisruptionBudget.minAvailable) (int .Values.replicaCount)) }}
{{- fail "podDisruptionBudget.minAvailable must be less than replicaCount, or no node could ever be drained" }}
{{- end }}
{{- end }}
