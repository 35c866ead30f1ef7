// The names, ports and defaults the Kubernetes pieces share (install, inject, webhook, control plane): constants only; it must never do I/O beyond reading the package version once.
import { readFileSync } from "node:fs";

/** The package version (package.json beside dist/), stamped on images and injected pods. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
    version: string;
  }
).version;

export const DEFAULT_IMAGE = `ghcr.io/lanemesh/lanemesh:${VERSION}`;
export const DEFAULT_NAMESPACE = "lanemesh-system";

/** The control plane's Deployment, Service, ServiceAccount and the app label on its pods. */
export const CONTROL_PLANE = "lanemesh-control-plane";
/** The MutatingWebhookConfiguration whose caBundle the control plane keeps current. */
export const WEBHOOK_CONFIG = "lanemesh-sidecar-injector";
/** The Secret (in the control plane's namespace) that holds the webhook's CA and serving cert. */
export const WEBHOOK_SECRET = "lanemesh-webhook-tls";
/** The path the API server posts AdmissionReviews to. */
export const WEBHOOK_PATH = "/inject";

export const PORTS = {
  grpc: 15010,
  http: 15014,
  webhook: 15017,
  admin: 15000,
  outbound: 15001,
  inbound: 15006,
} as const;

/** The proxy's fixed UID: interception never redirects its own traffic. */
export const PROXY_UID = 1337;

/** Labels and annotations users write, and the one injection stamps. */
export const KEYS = {
  inject: "lanemesh.io/inject",
  injected: "lanemesh.io/injected",
  tag: "lanemesh.io/tag",
  mseTag: "alicloud.service.tag",
  appPort: "lanemesh.io/app-port",
  excludeInboundPorts: "lanemesh.io/exclude-inbound-ports",
  excludeOutboundPorts: "lanemesh.io/exclude-outbound-ports",
  excludeOutboundCidrs: "lanemesh.io/exclude-outbound-cidrs",
} as const;

/** Labels every object `lanemesh install` renders carries. */
export const PART_OF = { "app.kubernetes.io/part-of": "lanemesh" } as const;
