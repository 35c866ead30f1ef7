// The Kubernetes parts `lanemesh control-plane` starts on request: the custom-resource store with its aggregated endpoints, and the injection webhook with its certificate keeper; wiring only, the logic is in src/control-plane/kube-store.ts and src/kubernetes/.
import { hostname } from "node:os";
import type { ConfigFeed } from "../control-plane/feed.js";
import type { Logger } from "../telemetry/logger.js";

/** How long the control plane waits for its first config from the cluster before giving up. */
const FIRST_CONFIG_MS = 120_000;

export interface KubePartsOptions {
  store: boolean;
  discovery: boolean;
  /** null: every namespace. */
  watchNamespaces: string[] | null;
  webhookPort?: number;
  bind: string;
  sidecarImage?: string;
  log: Logger;
}

export interface KubeParts {
  feed?: ConfigFeed;
  webhookPort?: number;
  close(): Promise<void>;
}

/** Start what the flags ask for; the feed has a config when this resolves. */
export async function startKubeParts(o: KubePartsOptions): Promise<KubeParts> {
  const k8s = await import("@kubernetes/client-node");
  const { ownNamespace } = await import("../discovery/kubernetes/target.js");
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  const namespace = ownNamespace();
  const closers: (() => Promise<void>)[] = [];
  const parts: KubeParts = {
    close: async () => {
      for (const c of closers.reverse()) await c().catch(() => {});
    },
  };
  try {
    if (o.store) {
      const { KubeStore } = await import("../control-plane/kube-store.js");
      const { KubernetesResolver } = await import("../discovery/kubernetes/resolver.js");
      const endpoints = o.discovery
        ? () =>
            new KubernetesResolver(
              { namespaces: o.watchNamespaces, port: null },
              { kubeConfig: kc, log: o.log.child({ part: "endpoints" }), allNamespaces: true },
            )
        : undefined;
      const store = await KubeStore.start({
        kubeConfig: kc,
        namespaces: o.watchNamespaces,
        leaseNamespace: namespace,
        identity: process.env.POD_NAME?.trim() || hostname(),
        ...(endpoints ? { endpoints } : {}),
        log: o.log.child({ part: "store" }),
      });
      closers.push(() => store.close());
      await store.ready(FIRST_CONFIG_MS);
      parts.feed = store;
    }
    if (o.webhookPort !== undefined) {
      const { startWebhook } = await import("../kubernetes/webhook.js");
      const { kubernetesWebhookTlsApi, startWebhookTlsKeeper } = await import(
        "../kubernetes/webhook-tls.js"
      );
      const log = o.log.child({ part: "webhook" });
      const api = kubernetesWebhookTlsApi(
        kc.makeApiClient(k8s.CoreV1Api),
        kc.makeApiClient(k8s.AdmissionregistrationV1Api),
        namespace,
      );
      let webhook: Awaited<ReturnType<typeof startWebhook>> | undefined;
      let pending: { cert: string; key: string } | undefined;
      const keeper = startWebhookTlsKeeper({
        api,
        namespace,
        serve: (cert, key) => {
          if (webhook) webhook.setCertificate(cert, key);
          else pending = { cert, key };
          log.info("serving certificate in force");
        },
        onError: (err) => log.warn({ err: err.message }, "webhook certificate not renewed"),
      });
      closers.push(async () => keeper.stop());
      await keeper.first;
      const tls = pending as { cert: string; key: string };
      webhook = await startWebhook({
        port: o.webhookPort,
        host: o.bind,
        cert: tls.cert,
        key: tls.key,
        inject: {
          controlPlaneNamespace: namespace,
          ...(o.sidecarImage ? { image: o.sidecarImage } : {}),
        },
        onEvent: (e) => log.info(e, `webhook ${e.type}`),
      });
      const running = webhook;
      closers.push(() => running.close());
      parts.webhookPort = running.port;
    }
    return parts;
  } catch (err) {
    await parts.close();
    throw err;
  }
}
