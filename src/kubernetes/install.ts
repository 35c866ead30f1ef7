// The manifests `lanemesh install` prints: CRDs, or the control plane (namespace, RBAC, Deployment, PDB, Service) and the sidecar injector's MutatingWebhookConfiguration; pure data, it must never talk to a cluster.
import { VERSION_LEASE } from "../control-plane/kube-versions.js";
import { customResourceDefinitions, GROUP } from "./crds.js";
import {
  CONTROL_PLANE,
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  KEYS,
  PART_OF,
  PORTS,
  PROXY_UID,
  VERSION,
  WEBHOOK_CONFIG,
  WEBHOOK_PATH,
  WEBHOOK_SECRET,
} from "./names.js";
import { toYamlStream } from "./yaml-out.js";

export interface InstallOptions {
  namespace: string;
  replicas: number;
  image: string;
}

export const INSTALL_DEFAULTS: InstallOptions = {
  namespace: DEFAULT_NAMESPACE,
  replicas: 2,
  image: DEFAULT_IMAGE,
};

type Json = Record<string, unknown>;

/** The control plane's pod labels (its selector). */
const SELECTOR = { "app.kubernetes.io/name": CONTROL_PLANE };

function labels(extra: Record<string, string> = {}): Record<string, string> {
  return { ...extra, ...PART_OF, "app.kubernetes.io/version": VERSION };
}

function meta(name: string, namespace?: string, extra: Record<string, string> = {}): Json {
  return namespace === undefined
    ? { name, labels: labels(extra) }
    : { name, namespace, labels: labels(extra) };
}

/** The control plane's own objects, in the order `kubectl apply` needs them. */
export function controlPlaneObjects(o: InstallOptions): Json[] {
  const ns = o.namespace;
  const namespace = {
    apiVersion: "v1",
    kind: "Namespace",
    // Never injected: the webhooks' namespaceSelector leaves this namespace out by name too.
    metadata: { name: ns, labels: labels({ [KEYS.inject]: "disabled" }) },
  };
  const serviceAccount = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: meta(CONTROL_PLANE, ns),
  };
  const clusterRole = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: meta(CONTROL_PLANE),
    rules: [
      {
        apiGroups: [GROUP],
        resources: ["routes", "lanegroups", "lanes"],
        verbs: ["get", "list", "watch"],
      },
      // A guarded lane's close (spec.enabled: false on the Lane), the one change it makes itself.
      { apiGroups: [GROUP], resources: ["lanes"], verbs: ["patch"] },
      {
        apiGroups: [GROUP],
        resources: ["routes/status", "lanegroups/status", "lanes/status"],
        verbs: ["update", "patch"],
      },
      {
        apiGroups: ["discovery.k8s.io"],
        resources: ["endpointslices"],
        verbs: ["get", "list", "watch"],
      },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    ],
  };
  const webhookRole = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRole",
    metadata: meta(`${CONTROL_PLANE}-webhook`),
    // Only the injector's own configuration, to keep its caBundle current.
    rules: [
      {
        apiGroups: ["admissionregistration.k8s.io"],
        resources: ["mutatingwebhookconfigurations"],
        resourceNames: [WEBHOOK_CONFIG],
        verbs: ["get", "patch"],
      },
    ],
  };
  const binding = (
    name: string,
    role: string,
    kind = "ClusterRoleBinding",
    roleKind = "ClusterRole",
  ) => ({
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind,
    metadata: kind === "RoleBinding" ? meta(name, ns) : meta(name),
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: roleKind, name: role },
    subjects: [{ kind: "ServiceAccount", name: CONTROL_PLANE, namespace: ns }],
  });
  const secretRole = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: meta(`${CONTROL_PLANE}-webhook-tls`, ns),
    // create cannot be limited by name (the object has none yet); the rest is this one Secret.
    rules: [
      { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
      {
        apiGroups: [""],
        resources: ["secrets"],
        resourceNames: [WEBHOOK_SECRET],
        verbs: ["get", "watch", "update"],
      },
    ],
  };
  const leaseRole = {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: meta(`${CONTROL_PLANE}-versions`, ns),
    // The replicas' shared config versions: one Lease, created once by whichever starts first.
    rules: [
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: [VERSION_LEASE],
        verbs: ["get", "update"],
      },
    ],
  };
  const podLabels = labels(SELECTOR);
  const deployment = {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: meta(CONTROL_PLANE, ns, SELECTOR),
    spec: {
      replicas: o.replicas,
      selector: { matchLabels: SELECTOR },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } },
      template: {
        metadata: { labels: podLabels, annotations: { [KEYS.inject]: "false" } },
        spec: {
          serviceAccountName: CONTROL_PLANE,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: PROXY_UID,
            runAsGroup: PROXY_UID,
            fsGroup: PROXY_UID,
            seccompProfile: { type: "RuntimeDefault" },
          },
          affinity: {
            podAntiAffinity: {
              // Preferred, not required: a one-node cluster still runs every replica.
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    labelSelector: { matchLabels: SELECTOR },
                    topologyKey: "kubernetes.io/hostname",
                  },
                },
              ],
            },
          },
          containers: [
            {
              name: "control-plane",
              image: o.image,
              imagePullPolicy: "IfNotPresent",
              args: [
                "control-plane",
                "--store",
                "kubernetes",
                "--discovery",
                "kubernetes",
                "--webhook-port",
                String(PORTS.webhook),
                "--proxy-auth",
                "kubernetes",
              ],
              env: [
                { name: "LANEMESH_BIND", value: "0.0.0.0" },
                { name: "LANEMESH_DATA_DIR", value: "/var/run/lanemesh/data" },
                { name: "LANEMESH_SIDECAR_IMAGE", value: o.image },
                { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
                {
                  name: "POD_NAMESPACE",
                  valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } },
                },
              ],
              ports: [
                { name: "grpc", containerPort: PORTS.grpc, protocol: "TCP" },
                { name: "http", containerPort: PORTS.http, protocol: "TCP" },
                { name: "webhook", containerPort: PORTS.webhook, protocol: "TCP" },
              ],
              readinessProbe: {
                httpGet: { path: "/healthz", port: "http" },
                periodSeconds: 5,
                failureThreshold: 3,
              },
              livenessProbe: {
                httpGet: { path: "/healthz", port: "http" },
                initialDelaySeconds: 10,
                periodSeconds: 10,
                failureThreshold: 6,
              },
              resources: {
                requests: { cpu: "100m", memory: "128Mi" },
                limits: { memory: "512Mi" },
              },
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                runAsNonRoot: true,
                capabilities: { drop: ["ALL"] },
              },
              volumeMounts: [{ name: "data", mountPath: "/var/run/lanemesh" }],
            },
          ],
          volumes: [{ name: "data", emptyDir: { sizeLimit: "64Mi" } }],
        },
      },
    },
  };
  const pdb = {
    apiVersion: "policy/v1",
    kind: "PodDisruptionBudget",
    metadata: meta(CONTROL_PLANE, ns),
    spec: { maxUnavailable: 1, selector: { matchLabels: SELECTOR } },
  };
  const service = {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(CONTROL_PLANE, ns),
    spec: {
      selector: SELECTOR,
      ports: [
        { name: "grpc", port: PORTS.grpc, targetPort: "grpc", appProtocol: "grpc" },
        { name: "http", port: PORTS.http, targetPort: "http", appProtocol: "http" },
        { name: "webhook", port: 443, targetPort: "webhook", appProtocol: "https" },
      ],
    },
  };
  return [
    namespace,
    serviceAccount,
    clusterRole,
    binding(CONTROL_PLANE, CONTROL_PLANE),
    // --proxy-auth kubernetes: TokenReview of the proxies' projected tokens, as kube-rbac-proxy does.
    binding(`${CONTROL_PLANE}-auth-delegator`, "system:auth-delegator"),
    leaseRole,
    binding(`${CONTROL_PLANE}-versions`, `${CONTROL_PLANE}-versions`, "RoleBinding", "Role"),
    webhookRole,
    binding(`${CONTROL_PLANE}-webhook`, `${CONTROL_PLANE}-webhook`),
    secretRole,
    binding(`${CONTROL_PLANE}-webhook-tls`, `${CONTROL_PLANE}-webhook-tls`, "RoleBinding", "Role"),
    deployment,
    pdb,
    service,
    webhookConfiguration(o),
  ];
}

/**
 * Two webhooks because a namespaceSelector and an objectSelector are ANDed: one for every pod of a
 * labelled namespace, one for labelled pods in the other namespaces (disjoint, so one call a pod).
 * Both leave out the control plane's namespace and kube-system by name. The caBundle is not
 * rendered: the control plane writes it (and `kubectl apply` of this file leaves it alone).
 */
export function webhookConfiguration(o: InstallOptions): Json {
  const never = {
    key: "kubernetes.io/metadata.name",
    operator: "NotIn",
    values: [o.namespace, "kube-system"],
  };
  const common = (name: string, namespaceSelector: Json, objectSelector: Json): Json => ({
    name,
    clientConfig: {
      service: { name: CONTROL_PLANE, namespace: o.namespace, path: WEBHOOK_PATH, port: 443 },
    },
    rules: [
      {
        operations: ["CREATE"],
        apiGroups: [""],
        apiVersions: ["v1"],
        resources: ["pods"],
        scope: "Namespaced",
      },
    ],
    namespaceSelector,
    objectSelector,
    // A webhook that is down or slow admits the pod without a sidecar: never blocks pod creation.
    failurePolicy: "Ignore",
    matchPolicy: "Equivalent",
    sideEffects: "None",
    admissionReviewVersions: ["v1"],
    timeoutSeconds: 10,
    // Injection is idempotent and reads only what exists at creation: a second call changes nothing.
    reinvocationPolicy: "Never",
  });
  return {
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    metadata: meta(WEBHOOK_CONFIG),
    webhooks: [
      common(
        "namespace.inject.lanemesh.io",
        { matchExpressions: [{ key: KEYS.inject, operator: "In", values: ["enabled"] }, never] },
        // A pod labelled false or disabled is left alone (as the annotation "false" does).
        {
          matchExpressions: [
            { key: KEYS.inject, operator: "NotIn", values: ["false", "disabled"] },
          ],
        },
      ),
      common(
        "object.inject.lanemesh.io",
        { matchExpressions: [{ key: KEYS.inject, operator: "NotIn", values: ["enabled"] }, never] },
        { matchExpressions: [{ key: KEYS.inject, operator: "In", values: ["enabled"] }] },
      ),
    ],
  };
}

function header(what: string, rendered: string): string[] {
  return [
    `lanemesh ${VERSION}: ${what}`,
    `rendered by: ${rendered}`,
    "apply with: kubectl apply -f -",
  ];
}

/** What `lanemesh install --crds` prints. */
export function renderCrds(): string {
  return toYamlStream(
    customResourceDefinitions(),
    header("CRDs for Route, LaneGroup and Lane", "lanemesh install --crds"),
  );
}

/** What `lanemesh install` prints (everything but the CRDs). */
export function renderInstall(o: InstallOptions = INSTALL_DEFAULTS): string {
  const flags = `--namespace ${o.namespace} --replicas ${o.replicas} --image ${o.image}`;
  return toYamlStream(
    controlPlaneObjects(o),
    header("control plane and sidecar injector", `lanemesh install ${flags}`),
  );
}
