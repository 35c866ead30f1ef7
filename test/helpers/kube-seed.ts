// Test helper: the seed scenario's pods and EndpointSlices in the fake Kubernetes API server (one pod per app instance, all on 127.0.0.1, each annotated with its sidecar's inbound port); no assertions here.
import { endpointSlice, type FakeKubeApiServer, pod } from "./kube-api-server.js";
import { APP_KEYS, APPS, type AppKey, type AppPorts } from "./procs.js";

/** The pod of one app instance: `sc-a-a`, `sc-a-ag`, … */
export const seedPodName = (k: AppKey): string => `${APPS[k].service}-${k}`;

/**
 * One pod and one EndpointSlice per instance: the Service's port is the app's, the pod's
 * `lanemesh.io/inbound-port` annotation makes peers dial its sidecar instead; tags as pod labels.
 */
export function applySeedPods(
  api: FakeKubeApiServer,
  namespace: string,
  ports: Record<AppKey, Pick<AppPorts, "app" | "inbound">>,
): void {
  for (const k of APP_KEYS) {
    const a = APPS[k];
    api.apply(
      "pods",
      pod({
        namespace,
        name: seedPodName(k),
        ip: "127.0.0.1",
        labels: a.tag ? { "lanemesh.io/tag": a.tag } : {},
        annotations: { "lanemesh.io/inbound-port": String(ports[k].inbound) },
      }),
    );
    api.apply(
      "endpointslices",
      endpointSlice({
        namespace,
        name: `${a.service}-${k}`,
        service: a.service,
        ports: [{ name: "http", port: ports[k].app }],
        endpoints: [{ address: "127.0.0.1", pod: seedPodName(k) }],
      }),
    );
  }
}
