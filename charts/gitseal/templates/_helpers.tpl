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
The image reference: repository:tag, and @digest when image.digest is set (a released
chart pins the image it was built with). A digest that is not sha256 fails the install.
*/}}
{{- define "gitseal.image" -}}
{{- $image := printf "%s:%s" .Values.image.repository (include "gitseal.tag" .) -}}
{{- with .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" (toString .)) -}}
{{- fail (printf "image.digest must be sha256: and 64 lower-case hex digits, not %q" (toString .)) -}}
{{- end -}}
{{- $image = printf "%s@%s" $image . -}}
{{- end -}}
{{- $image -}}
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

{{/*
The controller's arguments, as a JSON list: the rotation period when set, the watched
namespaces when set, then extraArgs.
*/}}
{{- define "gitseal.args" -}}
{{- $args := list -}}
{{- if include "gitseal.keyRotationPeriodSet" . -}}
{{- $args = append $args (printf "--key-rotation-period=%s" (include "gitseal.keyRotationPeriod" .)) -}}
{{- end -}}
{{- with .Values.watchNamespaces -}}
{{- $args = append $args (printf "--watch-namespaces=%s" (join "," .)) -}}
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

{{/*
The controller's rules on SealedSecrets, their Secrets and Events: its ClusterRole, or in
namespace-scoped mode each watched namespace's Role (deploy/30-rbac.yaml says the same).
*/}}
{{- define "gitseal.controllerRules" -}}
# SealedSecrets are the controller's input: it watches them in every namespace it watches.
- apiGroups: ["gitseal.dev"]
  resources: ["sealedsecrets"]
  verbs: ["get", "list", "watch"]
# It reports status.observedGeneration and the Ready condition through the status
# subresource (server-side apply = patch; get/update for read-modify-write fallbacks).
- apiGroups: ["gitseal.dev"]
  resources: ["sealedsecrets/status"]
  verbs: ["get", "patch", "update"]
# Managed Secrets carry a controller owner reference with blockOwnerDeletion: true.
# Where the OwnerReferencesPermissionEnforcement admission plugin is on (e.g. OpenShift),
# setting that needs update on the owner's finalizers. The CRD serves no finalizers
# subresource, so this grants nothing else.
- apiGroups: ["gitseal.dev"]
  resources: ["sealedsecrets/finalizers"]
  verbs: ["update"]
# Self-heal and never-clobber: a metadata-only watch of the Secrets it manages (label
# app.kubernetes.io/managed-by=gitseal-controller) to restore edited or deleted ones, and
# get to inspect a same-named Secret before taking it over. RBAC cannot filter by label,
# so this lets the controller read every Secret in the cluster.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["get", "list", "watch"]
# It writes the unsealed Secret next to each SealedSecret by server-side apply (patch);
# an apply that creates the object is also authorized as create. It replaces (update)
# a Secret another writer added keys to, or one it takes over from sealed-secrets.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["create", "patch", "update"]
# A Secret's type cannot be changed, and an immutable Secret's data cannot: when the
# SealedSecret asks for such a change the controller deletes and recreates the Secret.
# It deletes nothing else.
- apiGroups: [""]
  resources: ["secrets"]
  verbs: ["delete"]
# Events on SealedSecrets (events.k8s.io/v1): create a new one, patch to count repeats.
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- end -}}
