{{/*
Names. Namespaced objects keep the fixed names the controller, the CLI and the docs use
(gitseal-controller, gitseal-resealer, …): one gitseal per namespace. Cluster-scoped
objects are named after the release, "<fullname>-…", so that two releases (or a release
beside deploy/) never claim the same ClusterRole; a release named "gitseal" gets exactly
deploy/'s names (gitseal-controller, gitseal-sealedsecrets-edit, …).
*/}}
{{- define "gitseal.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name -}}
{{- end -}}
{{- end -}}

{{/* The image tag: image.tag, or the chart's appVersion. */}}
{{- define "gitseal.tag" -}}
{{- .Values.image.tag | default .Chart.AppVersion | toString -}}
{{- end -}}

{{/*
Whether keyRotationPeriod is set; unset, the Deployment passes no flag, as deploy/.
(A null value reads as "<nil>"; a number 0 is set.)
*/}}
{{- define "gitseal.keyRotationPeriodSet" -}}
{{- if not (has (toString .Values.keyRotationPeriod) (list "" "<nil>")) }}true{{ end -}}
{{- end -}}

{{/*
The key rotation period the controller runs with: keyRotationPeriod, or the
controller's own default (controller/src/args.rs; controller/tests/chart_metrics.rs
checks that it still is 30d). Refuses what the controller would refuse, at install time
rather than in a crash-looping pod.
*/}}
{{- define "gitseal.keyRotationPeriod" -}}
{{- $period := "30d" -}}
{{- if include "gitseal.keyRotationPeriodSet" . }}{{ $period = toString .Values.keyRotationPeriod }}{{ end -}}
{{- if not (regexMatch "^(0|[0-9]+[dhms])$" $period) -}}
{{- fail (printf "keyRotationPeriod %q is not a period like 30d, 720h, 45m, 90s or 0" $period) -}}
{{- end -}}
{{- $period -}}
{{- end -}}

{{/* The controller's arguments, as a JSON list: the rotation period when set, then extraArgs. */}}
{{- define "gitseal.args" -}}
{{- $args := list -}}
{{- if include "gitseal.keyRotationPeriodSet" . -}}
{{- $args = append $args (printf "--key-rotation-period=%s" (include "gitseal.keyRotationPeriod" .)) -}}
{{- end -}}
{{- concat $args (.Values.extraArgs | default list) | toJson -}}
{{- end -}}

{{/* Labels Helm adds to every object it renders; deploy/ has none of them. */}}
{{- define "gitseal.helmLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* What selects the controller's pods (Deployment, Service, PDB, monitors, policy). */}}
{{- define "gitseal.selectorLabels" -}}
app.kubernetes.io/name: gitseal-controller
{{- end -}}

{{/* Labels of the controller's own objects. */}}
{{- define "gitseal.labels" -}}
{{ include "gitseal.selectorLabels" . }}
app.kubernetes.io/part-of: gitseal
{{ include "gitseal.helmLabels" . }}
{{- end -}}

{{/* Labels of objects for everyone else (users' roles): part of gitseal, not the controller's. */}}
{{- define "gitseal.partOfLabels" -}}
app.kubernetes.io/part-of: gitseal
{{ include "gitseal.helmLabels" . }}
{{- end -}}

{{/*
A task role's binding, when its values list subjects: RoleBinding for a Role,
ClusterRoleBinding for a ClusterRole, named like the role. Arguments: dict of kind, name,
subjects and root (the chart's top-level context).
*/}}
{{- define "gitseal.taskBinding" -}}
{{- if .subjects }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: {{ .kind }}Binding
metadata:
  name: {{ .name }}
  {{- if eq .kind "Role" }}
  namespace: {{ .root.Release.Namespace }}
  {{- end }}
  labels:
    {{- include "gitseal.partOfLabels" .root | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: {{ .kind }}
  name: {{ .name }}
subjects:
  {{- toYaml .subjects | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The PromQL selector of the controller's series: its pods' namespace, as ServiceMonitor
and PodMonitor label them.
*/}}
{{- define "gitseal.promSelector" -}}
{namespace="{{ .Release.Namespace }}"}
{{- end -}}

{{/* The key rotation period in seconds (0: never). */}}
{{- define "gitseal.keyRotationSeconds" -}}
{{- $period := include "gitseal.keyRotationPeriod" . -}}
{{- $units := dict "d" 86400 "h" 3600 "m" 60 "s" 1 -}}
{{- if eq $period "0" -}}
0
{{- else -}}
{{- mul (regexFind "^[0-9]+" $period | atoi) (get $units (trimPrefix (regexFind "^[0-9]+" $period) $period)) -}}
{{- end -}}
{{- end -}}
