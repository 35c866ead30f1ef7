// Sidecar injection as a pure function: a pod (metadata + spec) → the containers, volumes and annotation lanemesh adds, as a mutated copy and as a JSONPatch (RFC 6902) that the webhook returns; it must never do I/O or read anything but its arguments.
import { isLaneTag } from "../config/lane-tag.js";
import {
  CONTROL_PLANE,
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  KEYS,
  PORTS,
  PROXY_UID,
  VERSION,
} from "./names.js";

export interface InjectOptions {
  /** The lanemesh image for the sidecar and the interception init container. */
  image: string;
  /** Where the control plane runs: proxies dial `lanemesh-control-plane.<ns>.svc:15010`. */
  controlPlaneNamespace: string;
  /** A plain container instead of a native sidecar (clusters before Kubernetes 1.29). */
  legacy: boolean;
  /** Stamped on injected pods (`lanemesh.io/injected`). */
  version: string;
}

export const INJECT_DEFAULTS: InjectOptions = {
  image: DEFAULT_IMAGE,
  controlPlaneNamespace: DEFAULT_NAMESPACE,
  legacy: false,
  version: VERSION,
};

export const PROXY_CONTAINER = "lanemesh-proxy";
export const INIT_CONTAINER = "lanemesh-init";
export const TOKEN_DIR = "/var/run/secrets/lanemesh";
export const TOKEN_FILE = `${TOKEN_DIR}/token`;
const TOKEN_VOLUME = "lanemesh-token";
const STATE_VOLUME = "lanemesh-state";
const STATE_DIR = "/var/run/lanemesh";
/**
 * The sidecar's V8 young generation, set rather than left to Node, which sizes it from the
 * container's memory limit (1 MB semi-spaces at 256Mi, 16 MB without a limit) and cannot change
 * it once running (`v8.setFlagsFromString` does not resize the heap). 2 MB semi-spaces keep a
 * sidecar at 1,000 requests/s near 72 MB of RSS instead of about 100 (bench/README.md, "Memory,
 * round two").
 */
export const PROXY_NODE_OPTIONS = "--max-semi-space-size=2";

type Json = Record<string, unknown>;

/** The parts of a Pod (or a pod template) injection reads and changes. */
export interface PodLike {
  metadata?: {
    name?: string;
    generateName?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind?: string; name?: string }[];
  };
  spec?: {
    containers?: Json[];
    initContainers?: Json[];
    volumes?: Json[];
    hostNetwork?: boolean;
    [k: string]: unknown;
  };
}

export interface JsonPatchOp {
  op: "add";
  path: string;
  value: unknown;
}

export type Plan =
  | { action: "inject"; patch: JsonPatchOp[]; app: string; tag: string | null; appPort: number }
  | {
      action: "skip";
      reason: string /** true: the user asked for injection and did not get it. */;
      warn: boolean;
    };

/** `~` and `/` escaped as a JSON Pointer segment (RFC 6901). */
export function pointerSegment(s: string): string {
  return s.replaceAll("~", "~0").replaceAll("/", "~1");
}

/**
 * The workload a pod belongs to, when its labels name no app: the owner's name (a ReplicaSet's
 * without its pod-template-hash), else the pod's name or generateName. `inject` passes the
 * workload's own name instead.
 */
export function workloadNameOf(pod: PodLike): string | undefined {
  const m = pod.metadata ?? {};
  const owner = m.ownerReferences?.find((o) => typeof o.name === "string" && o.name !== "");
  const hash = m.labels?.["pod-template-hash"];
  const strip = (n: string) =>
    hash !== undefined && n.endsWith(`-${hash}`) ? n.slice(0, -hash.length - 1) : n;
  if (owner?.name) return owner.kind === "ReplicaSet" ? strip(owner.name) : owner.name;
  if (m.name) return m.name;
  if (m.generateName) return strip(m.generateName.replace(/-+$/, ""));
  return undefined;
}

const PORT_LIST = /^\d{1,5}(,\d{1,5})*$/;
const CIDR = /^([0-9]{1,3}(\.[0-9]{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

function portList(value: string, key: string): string | { error: string } {
  const v = value.replaceAll(" ", "");
  if (v === "") return "";
  if (!PORT_LIST.test(v) || v.split(",").some((p) => Number(p) < 1 || Number(p) > 65535))
    return {
      error: `annotation ${key}: expected ports 1-65535 separated by commas; got "${value}"`,
    };
  return v;
}

function cidrList(value: string, key: string): string | { error: string } {
  const v = value.replaceAll(" ", "");
  if (v === "") return "";
  if (!v.split(",").every((c) => CIDR.test(c)))
    return { error: `annotation ${key}: expected CIDRs (10.0.0.0/8,fd00::/8); got "${value}"` };
  return v;
}

function firstContainerPort(containers: Json[]): number | undefined {
  for (const c of containers) {
    const ports = Array.isArray(c.ports) ? (c.ports as Json[]) : [];
    for (const p of ports) {
      const proto = p.protocol ?? "TCP";
      if (proto === "TCP" && typeof p.containerPort === "number") return p.containerPort;
    }
  }
  return undefined;
}

function fieldEnv(name: string, fieldPath: string): Json {
  return { name, valueFrom: { fieldRef: { fieldPath } } };
}

const httpProbe = (path: string, extra: Json): Json => ({
  httpGet: { path, port: PORTS.admin },
  ...extra,
});

/** The interception init container: `lanemesh iptables` with the pod's exclusions, as root with NET_ADMIN/NET_RAW only. */
function initContainer(o: InjectOptions, exclusions: [string, string][]): Json {
  const args = [
    "iptables",
    "--proxy-uid",
    String(PROXY_UID),
    "--inbound-port",
    String(PORTS.inbound),
    "--outbound-port",
    String(PORTS.outbound),
  ];
  for (const [flag, value] of exclusions) if (value !== "") args.push(flag, value);
  return {
    name: INIT_CONTAINER,
    image: o.image,
    imagePullPolicy: "IfNotPresent",
    args,
    resources: {
      requests: { cpu: "10m", memory: "16Mi" },
      limits: { memory: "64Mi" },
    },
    securityContext: {
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: false,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
  };
}

function proxyContainer(o: InjectOptions, app: string, tag: string | null, appPort: number): Json {
  const env: Json[] = [{ name: "LANEMESH_APP", value: app }];
  if (tag !== null) env.push({ name: "LANEMESH_TAG", value: tag });
  env.push(
    { name: "LANEMESH_APP_PORT", value: String(appPort) },
    {
      name: "LANEMESH_CONTROL_PLANE",
      value: `${CONTROL_PLANE}.${o.controlPlaneNamespace}.svc:${PORTS.grpc}`,
    },
    fieldEnv("LANEMESH_ADVERTISE_HOST", "status.podIP"),
    { name: "LANEMESH_STATE_DIR", value: `${STATE_DIR}/state` },
    { name: "LANEMESH_TOKEN_FILE", value: TOKEN_FILE },
    // The init container's iptables rules redirect the pod's traffic here: read each
    // connection's original destination (non-HTTP TCP is piped there unchanged).
    { name: "LANEMESH_INTERCEPT", value: "true" },
    fieldEnv("POD_NAME", "metadata.name"),
    fieldEnv("POD_NAMESPACE", "metadata.namespace"),
    fieldEnv("POD_IP", "status.podIP"),
    { name: "NODE_OPTIONS", value: PROXY_NODE_OPTIONS },
  );
  const c: Json = {
    name: PROXY_CONTAINER,
    image: o.image,
    imagePullPolicy: "IfNotPresent",
    args: ["sidecar"],
  };
  // A native sidecar (Kubernetes 1.29+): started before the app, stopped after it, ends with a Job.
  if (!o.legacy) c.restartPolicy = "Always";
  Object.assign(c, {
    env,
    ports: [{ name: "lanemesh-admin", containerPort: PORTS.admin, protocol: "TCP" }],
    startupProbe: httpProbe("/ready", { periodSeconds: 1, failureThreshold: 120 }),
    readinessProbe: httpProbe("/ready", { periodSeconds: 5, failureThreshold: 3 }),
    livenessProbe: httpProbe("/healthz", { periodSeconds: 10, failureThreshold: 3 }),
    resources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { memory: "256Mi" } },
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [
      { name: TOKEN_VOLUME, mountPath: TOKEN_DIR, readOnly: true },
      { name: STATE_VOLUME, mountPath: STATE_DIR },
    ],
  });
  return c;
}

function volumes(): Json[] {
  return [
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          { serviceAccountToken: { audience: "lanemesh", expirationSeconds: 3600, path: "token" } },
        ],
      },
    },
    { name: STATE_VOLUME, emptyDir: { sizeLimit: "16Mi" } },
  ];
}

/**
 * What injecting `pod` means, as a JSONPatch against it (paths from the pod's root: /metadata,
 * /spec), or why it is left alone. `workload`: the name of the object the pod template is in.
 */
export function planInjection(pod: PodLike, o: InjectOptions, workload?: string): Plan {
  const annotations = pod.metadata?.annotations ?? {};
  const labels = pod.metadata?.labels ?? {};
  const spec = pod.spec ?? {};
  const optOut = annotations[KEYS.inject] ?? labels[KEYS.inject];
  if (optOut === "false" || optOut === "disabled")
    return { action: "skip", reason: `${KEYS.inject}: "${optOut}"`, warn: false };
  const containers = Array.isArray(spec.containers) ? spec.containers : [];
  const inits = Array.isArray(spec.initContainers) ? spec.initContainers : [];
  if (
    annotations[KEYS.injected] !== undefined ||
    [...containers, ...inits].some((c) => c.name === PROXY_CONTAINER || c.name === INIT_CONTAINER)
  )
    return { action: "skip", reason: "already injected", warn: false };
  if (containers.length === 0) return { action: "skip", reason: "no containers", warn: true };
  if (spec.hostNetwork === true)
    return {
      action: "skip",
      reason: "hostNetwork pod: interception would capture the node's traffic",
      warn: true,
    };

  const app =
    labels["app.kubernetes.io/name"] ?? labels.app ?? workload ?? workloadNameOf(pod) ?? "";
  if (app === "")
    return {
      action: "skip",
      reason: "no app name: label app.kubernetes.io/name or app",
      warn: true,
    };
  let tag: string | null = labels[KEYS.tag] ?? labels[KEYS.mseTag] ?? null;
  if (tag !== null && (tag === "" || tag.toLowerCase() === "base")) tag = null;
  if (tag !== null && !isLaneTag(tag))
    return { action: "skip", reason: `label tag "${tag}" is not a valid lane tag`, warn: true };
  let appPort: number | undefined;
  const portAnnotation = annotations[KEYS.appPort];
  if (portAnnotation !== undefined) {
    const n = Number(portAnnotation);
    if (!/^\d+$/.test(portAnnotation) || n < 1 || n > 65535)
      return {
        action: "skip",
        reason: `annotation ${KEYS.appPort}: expected a port 1-65535; got "${portAnnotation}"`,
        warn: true,
      };
    appPort = n;
  } else appPort = firstContainerPort(containers);
  if (appPort === undefined)
    return {
      action: "skip",
      reason: `no app port: declare a containerPort or annotate ${KEYS.appPort}`,
      warn: true,
    };

  const exclusions: [string, string][] = [];
  for (const [flag, key, parse] of [
    ["--exclude-inbound-ports", KEYS.excludeInboundPorts, portList],
    ["--exclude-outbound-ports", KEYS.excludeOutboundPorts, portList],
    ["--exclude-outbound-cidrs", KEYS.excludeOutboundCidrs, cidrList],
  ] as const) {
    const raw = annotations[key];
    if (raw === undefined) continue;
    const v = parse(raw, key);
    if (typeof v !== "string") return { action: "skip", reason: v.error, warn: true };
    exclusions.push([flag, v]);
  }

  const init = initContainer(o, exclusions);
  const proxy = proxyContainer(o, app, tag, appPort);
  const patch: JsonPatchOp[] = [];
  const stamp = { [KEYS.injected]: o.version };
  if (pod.metadata === undefined)
    patch.push({ op: "add", path: "/metadata", value: { annotations: stamp } });
  else if (pod.metadata.annotations === undefined)
    patch.push({ op: "add", path: "/metadata/annotations", value: stamp });
  else
    patch.push({
      op: "add",
      path: `/metadata/annotations/${pointerSegment(KEYS.injected)}`,
      value: o.version,
    });
  // Interception first, then the native sidecar, then the app's own init containers (which so
  // reach the network through the proxy).
  const front = o.legacy ? [init] : [init, proxy];
  if (spec.initContainers === undefined)
    patch.push({ op: "add", path: "/spec/initContainers", value: front });
  else
    for (const [i, c] of front.entries())
      patch.push({ op: "add", path: `/spec/initContainers/${i}`, value: c });
  if (o.legacy) patch.push({ op: "add", path: "/spec/containers/-", value: proxy });
  if (spec.volumes === undefined)
    patch.push({ op: "add", path: "/spec/volumes", value: volumes() });
  else for (const v of volumes()) patch.push({ op: "add", path: "/spec/volumes/-", value: v });
  return { action: "inject", patch, app, tag, appPort };
}

/** Apply `add` ops (RFC 6902) to a JSON value in place: objects get the key, lists the item at the index (`-` = the end). */
export function applyAddPatch(target: unknown, ops: readonly JsonPatchOp[]): void {
  for (const op of ops) {
    const segs = op.path
      .split("/")
      .slice(1)
      .map((s) => s.replaceAll("~1", "/").replaceAll("~0", "~"));
    const last = segs.pop() as string;
    let parent = target as Record<string, unknown> | unknown[];
    for (const s of segs) parent = (parent as Record<string, unknown>)[s] as typeof parent;
    const value = structuredClone(op.value);
    if (Array.isArray(parent)) parent.splice(last === "-" ? parent.length : Number(last), 0, value);
    else if (typeof parent === "object" && parent !== null) parent[last] = value;
    else throw new Error(`JSONPatch: nothing to add to at ${op.path}`);
  }
}

/** The pod (or pod template) as injection leaves it: a mutated copy, and the plan behind it. */
export function injectPod<T extends PodLike>(
  pod: T,
  o: InjectOptions,
  workload?: string,
): { pod: T; plan: Plan } {
  const plan = planInjection(pod, o, workload);
  const copy = structuredClone(pod);
  if (plan.action === "inject") applyAddPatch(copy, plan.patch);
  return { pod: copy, plan };
}
