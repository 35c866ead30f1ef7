// EndpointSlices and their Pods mapped to endpoints (service, address, port, tag, weight, health); pure, it never watches or talks to the API server.

import { isLaneTag } from "../../config/lane-tag.js";
import type { Endpoint } from "../../config/types.js";

/** The pod label that carries an instance's lane tag (docs/discovery.md); absent or empty = base. */
export const TAG_LABEL = "lanemesh.io/tag";
/** Pod annotation: the port of the pod's sidecar inbound listener, dialed instead of the slice port. */
export const INBOUND_PORT_ANNOTATION = "lanemesh.io/inbound-port";
/** Pod annotation: the instance's weight, 0..10000 (100 = normal). */
export const WEIGHT_ANNOTATION = "lanemesh.io/weight";
/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

/** The parts of an EndpointSlice this resolver reads (list items and watch objects alike). */
export interface SliceLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> | null };
  addressType?: string;
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
  endpoints?:
    | {
        addresses?: string[] | null;
        conditions?: {
          ready?: boolean | null;
          serving?: boolean | null;
          terminating?: boolean | null;
        } | null;
        nodeName?: string | null;
        targetRef?: { kind?: string; name?: string; namespace?: string } | null;
      }[]
    | null;
}

/** The parts of a Pod this resolver reads. */
export interface PodLike {
  metadata?: {
    labels?: Record<string, string> | null;
    annotations?: Record<string, string> | null;
  };
}

/** Pod lookup by namespace and name (the pod informers' caches). */
export type PodLookup = (namespace: string, name: string) => PodLike | undefined;

/**
 * Endpoints of a set of EndpointSlices (pure). `problems` names what was skipped or ignored and
 * why, for the caller to log once.
 *
 * - service = the slice's `kubernetes.io/service-name` label (slices without it are skipped);
 *   names are not qualified by namespace, as the outbound side strips `.ns.svc.cluster.local`:
 *   one service name followed in two namespaces is one service.
 * - IPv4 and IPv6 slices; FQDN slices (deprecated, no defined semantics) are skipped.
 * - One address per endpoint, the first: the API says the addresses of an endpoint are fungible
 *   and kube-proxy uses only the first (kubernetes/kubernetes#106267).
 * - port = the chosen slice port, unless the pod has `lanemesh.io/inbound-port: "N"`: then N, the
 *   port of that pod's sidecar inbound listener. A peer sidecar then dials the sidecar directly,
 *   which works without iptables interception of the app port.
 * - tag = the pod's `lanemesh.io/tag` label (absent or empty = base; an endpoint without a Pod
 *   targetRef is base). An endpoint whose Pod is not (yet) in the cache is kept unhealthy: its lane
 *   is unknown, and taking it for base could send base traffic to a canary.
 * - healthy = ready !== false && terminating !== true (ready unset counts as ready, as kube-proxy).
 * - Several slices of one service are merged; one address:port is listed once (a healthy copy
 *   wins, as an endpoint moving between slices may briefly sit in both).
 */
export function endpointsFromSlices(
  slices: readonly SliceLike[],
  pods: PodLookup,
  portName: string | null,
): { endpoints: Endpoint[]; problems: string[] } {
  const byKey = new Map<string, Endpoint>();
  const problems: string[] = [];
  for (const slice of slices) {
    const namespace = slice.metadata?.namespace ?? "";
    const where = `EndpointSlice ${namespace}/${slice.metadata?.name ?? "?"}`;
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined || service === "") continue;
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = chooseSlicePort(slice.ports, portName);
    if (slicePort === null) {
      problems.push(
        `${where}: no ${portName === null ? 'TCP port (none named "http" either)' : `TCP port named ${JSON.stringify(portName)}`}; its endpoints are skipped`,
      );
      continue;
    }
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (address === undefined || address === "") continue;
      const metadata: Record<string, string> = { namespace };
      let tag: string | null = null;
      let port = slicePort;
      let weight = 100;
      let healthy = ep.conditions?.ready !== false && ep.conditions?.terminating !== true;
      const ref = ep.targetRef;
      if (ref?.kind === "Pod" && ref.name) {
        const podNamespace = ref.namespace || namespace;
        metadata.pod = ref.name;
        const pod = pods(podNamespace, ref.name);
        if (pod === undefined) {
          healthy = false;
        } else {
          const podWhere = `Pod ${podNamespace}/${ref.name}`;
          const label = pod.metadata?.labels?.[TAG_LABEL];
          if (label !== undefined && label !== "") {
            if (!isLaneTag(label)) {
              problems.push(
                `${podWhere}: label ${TAG_LABEL}=${JSON.stringify(label)} is not a lane tag; the pod is skipped`,
              );
              continue;
            }
            // "base" is the reserved name of untagged instances, as static and Nacos read it.
            tag = label.toLowerCase() === "base" ? null : label;
          }
          const annotations = pod.metadata?.annotations ?? {};
          const inbound = annotations[INBOUND_PORT_ANNOTATION];
          if (inbound !== undefined) {
            const n = intIn(inbound, 1, 65535);
            if (n === null)
              problems.push(
                `${podWhere}: annotation ${INBOUND_PORT_ANNOTATION}=${JSON.stringify(inbound)} is not a port (1..65535); the slice port is used`,
              );
            else port = n;
          }
          const w = annotations[WEIGHT_ANNOTATION];
          if (w !== undefined) {
            const n = intIn(w, 0, 10000);
            if (n === null)
              problems.push(
                `${podWhere}: annotation ${WEIGHT_ANNOTATION}=${JSON.stringify(w)} is not a weight (0..10000); 100 is used`,
              );
            else weight = n;
          }
        }
      }
      if (ep.nodeName) metadata.node = ep.nodeName;
      const endpoint: Endpoint = { service, address, port, tag, weight, healthy, metadata };
      const key = `${service}\u0000${address}\u0000${port}`;
      const had = byKey.get(key);
      if (had === undefined || (!had.healthy && healthy)) byKey.set(key, endpoint);
    }
  }
  const endpoints = [...byKey.values()].sort(
    (a, b) => cmp(a.service, b.service) || cmp(a.address, b.address) || a.port - b.port,
  );
  return { endpoints, problems };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function intIn(text: string, min: number, max: number): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** The named TCP port; with no name, the TCP port named "http", else the first TCP port. */
function chooseSlicePort(ports: SliceLike["ports"], name: string | null): number | null {
  const tcp = (ports ?? []).filter(
    (p) => (p.protocol ?? "TCP") === "TCP" && typeof p.port === "number" && p.port > 0,
  );
  const chosen =
    name !== null
      ? tcp.find((p) => (p.name ?? "") === name)
      : (tcp.find((p) => p.name === "http") ?? tcp[0]);
  return chosen?.port ?? null;
}
