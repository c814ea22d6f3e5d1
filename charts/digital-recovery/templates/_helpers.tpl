{{/* Resource name prefix: "<release>-digital-recovery", or the release name when it already says so. */}}
{{- define "dr.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "dr.serviceAccountName" -}}
{{- default (include "dr.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "dr.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: controller
{{- end -}}

{{- define "dr.labels" -}}
{{ include "dr.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "dr.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/*
The controller's rules in the namespaces it watches. It never reads Secrets: worker pods get
credentials through secretKeyRef env vars that the kubelet resolves. The worker rules at the end
are here because RBAC lets a subject create a Role only with permissions it holds itself (no
"escalate"), and the controller creates the worker Role in each namespace with recoveries.
*/}}
{{- define "dr.controllerRules" -}}
# create/patch/delete: the schedule controller creates each run, cancels one (Replace) by
# setting spec.cancel, and prunes history.
- apiGroups: ["recovery.cxops.io"]
  resources: ["digitalrecoveries"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: ["recovery.cxops.io"]
  resources: ["digitalrecoveryschedules"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["recovery.cxops.io"]
  resources: ["digitalrecoveryschedules/status"]
  verbs: ["get", "patch"]
- apiGroups: ["recovery.cxops.io"]
  resources: ["digitalrecoveries/status"]
  verbs: ["get", "patch"]
# Jobs and worker identities are owned by their recovery, and scheduled runs by their schedule,
# with blockOwnerDeletion; clusters with the OwnerReferencesPermissionEnforcement admission
# plugin require this.
- apiGroups: ["recovery.cxops.io"]
  resources: ["digitalrecoveries/finalizers", "digitalrecoveryschedules/finalizers"]
  verbs: ["update"]
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["get", "list", "watch", "create", "patch", "delete"]
- apiGroups: [""]
  resources: ["serviceaccounts"]
  verbs: ["create", "patch"]
- apiGroups: ["rbac.authorization.k8s.io"]
  resources: ["roles", "rolebindings"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
# The job controller's FailedCreate Events say why a worker Job has no pods (Pod Security, a
# quota); the controller lists them to put that reason in the recovery's status.
- apiGroups: [""]
  resources: ["events"]
  verbs: ["list"]
# A worker Job's failed pods say how they ended (OOMKilled, an exit code), which the Job does not.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["list"]
# Granted to the worker Role (reports, journals, schedule ledgers; see above); the schedule
# controller itself lists and deletes ledger days past a schedule's ledgerRetention.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "create", "patch", "delete"]
{{- end -}}

{{- define "dr.watchArgs" -}}
{{- range .Values.watchNamespaces }}
- --namespace
- {{ . | quote }}
{{- end }}
{{- end -}}
