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
The ServiceAccount the controller runs as: serviceAccount.name, else the full name.
The RBAC bindings and the admission policy name it too.
*/}}
{{- define "operationrun-controller.serviceAccountName" -}}
{{- default (include "operationrun-controller.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/*
What makes the names of the release's cluster-scoped objects (ClusterRoles,
ClusterRoleBindings, the admission policy and its binding), and of the objects it puts
in a namespace other than its own, unique in the cluster: Helm lets two releases of one
name live in two namespaces, so these names end in `.<release namespace>` (a namespace
has no dot, so no two releases' names meet). In operationrun-system, the namespace of
the static manifest and of the documentation, the suffix is empty and the names are
those documented.
*/}}
{{- define "operationrun-controller.clusterSuffix" -}}
{{- if ne .Release.Namespace "operationrun-system" }}
{{- printf ".%s" .Release.Namespace }}
{{- end }}
{{- end }}

{{/*
The name of a namespaced object the values may place outside the release namespace
(ServiceMonitor, PrometheusRule, dashboard ConfigMap), called with
(dict "root" $ "namespace" <its namespace> "suffix" <"" or "-...">): the full name and
the suffix, and in another namespace than the release's, where releases of other
namespaces may put theirs, the cluster suffix too.
*/}}
{{- define "operationrun-controller.placedName" -}}
{{- $root := .root }}
{{- $name := printf "%s%s" (include "operationrun-controller.fullname" $root) .suffix }}
{{- if eq .namespace $root.Release.Namespace }}
{{- $name }}
{{- else }}
{{- printf "%s%s" $name (include "operationrun-controller.clusterSuffix" $root) }}
{{- end }}
{{- end }}

{{/*
The controller's args: `run` and the flag of every value. The Kustomize example of
docs/operating.md replaces args by position: add new flags at the end.
*/}}
{{- define "operationrun-controller.args" -}}
{{- $args := list "run" }}
{{- range .Values.watchNamespaces }}
{{- $args = append $args (printf "--namespace=%s" .) }}
{{- end }}
{{- if .Values.leaderElection.enabled }}
{{- $args = append $args (printf "--lease-name=%s" (include "operationrun-controller.leaseName" .)) }}
{{- else }}
{{- $args = append $args "--no-leader-election" }}
{{- end }}
{{- if .Values.dryRun }}
{{- $args = append $args "--dry-run" }}
{{- end }}
{{- $args = append $args (printf "--queued-timeout=%d" (int64 .Values.timeouts.queuedSeconds)) }}
{{- $args = append $args (printf "--heartbeat-timeout=%d" (int64 .Values.timeouts.heartbeatSeconds)) }}
{{- $args = append $args (printf "--abandon-after=%d" (int64 .Values.timeouts.abandonAfterSeconds)) }}
{{- $args = append $args (printf "--http-addr=0.0.0.0:%d" (int .Values.metrics.port)) }}
{{- $args = append $args (printf "--log-format=%s" .Values.logFormat) }}
{{- $args = append $args (printf "--log-level=%s" .Values.logLevel) }}
{{- $args = append $args (printf "--concurrency=%d" (int .Values.concurrency)) }}
{{- $args = append $args (printf "--event-qps=%d" (int .Values.events.qps)) }}
{{- $args = append $args (printf "--event-queue=%d" (int .Values.events.queue)) }}
{{- $args = append $args (printf "--request-timeout=%d" (int .Values.requestTimeoutSeconds)) }}
{{- $args = append $args (printf "--unsynced-timeout=%d" (int .Values.unsyncedTimeoutSeconds)) }}
{{- /* extraArgs: never a flag the chart passes (the controller refuses a flag given
twice), nor one whose RBAC or Lease the chart derives from its values. */}}
{{- $chartFlags := dict }}
{{- range $args }}
{{- $_ := set $chartFlags (regexReplaceAll "=.*$" . "") true }}
{{- end }}
{{- $byValue := dict
  "--namespace" "use watchNamespaces (the chart grants RBAC in those namespaces)"
  "--lease-namespace" "the Lease is in the release namespace (POD_NAMESPACE), where the chart's Role lets the controller write it"
  "--no-leader-election" "use leaderElection.enabled=false"
  "--lease-name" "use leaderElection.leaseName"
  "--dry-run" "use dryRun"
  "--queued-timeout" "use timeouts.queuedSeconds"
  "--heartbeat-timeout" "use timeouts.heartbeatSeconds"
  "--abandon-after" "use timeouts.abandonAfterSeconds"
  "--http-addr" "use metrics.port"
  "--log-format" "use logFormat"
  "--log-level" "use logLevel"
  "--concurrency" "use concurrency"
  "--event-qps" "use events.qps"
  "--event-queue" "use events.queue"
  "--request-timeout" "use requestTimeoutSeconds"
  "--unsynced-timeout" "use unsyncedTimeoutSeconds"
}}
{{- range .Values.extraArgs }}
{{- $flag := regexReplaceAll "=.*$" . "" }}
{{- if or (hasKey $chartFlags $flag) (has $flag (list "--namespace" "--lease-namespace" "--no-leader-election")) }}
{{- fail (printf "extraArgs: the chart sets %s itself: %s" $flag (get $byValue $flag)) }}
{{- end }}
{{- end }}
{{- concat $args .Values.extraArgs | toYaml }}
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
{{- if and (not .Values.serviceAccount.create) (not .Values.serviceAccount.name) }}
{{- fail "serviceAccount.create=false requires serviceAccount.name: the existing ServiceAccount the chart binds its RBAC to and names in its admission policy" }}
{{- end }}
{{- range .Values.extraEnv }}
{{- if has .name (list "POD_NAMESPACE" "POD_NAME") }}
{{- fail (printf "extraEnv: %s is set by the chart (the Lease namespace and the leader-election identity come from the downward API)" .name) }}
{{- end }}
{{- end }}
{{- if and .Values.serviceMonitor.scrapeTimeout (gt (include "operationrun-controller.seconds" .Values.serviceMonitor.scrapeTimeout | float64) (include "operationrun-controller.seconds" .Values.serviceMonitor.interval | float64)) }}
{{- fail "serviceMonitor.scrapeTimeout must not be longer than serviceMonitor.interval (Prometheus refuses the scrape config)" }}
{{- end }}
{{- end }}

{{/*
A Prometheus duration of the form values.schema.json allows (1m30s, 500ms), in seconds.
*/}}
{{- define "operationrun-controller.seconds" -}}
{{- $total := 0.0 }}
{{- range regexFindAll "[0-9]+(ms|s|m|h)" . -1 }}
{{- $n := regexFind "^[0-9]+" . | float64 }}
{{- $unit := regexReplaceAll "^[0-9]+" . "" }}
{{- $total = addf $total (mulf $n (get (dict "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0) $unit)) }}
{{- end }}
{{- $total }}
{{- end }}
