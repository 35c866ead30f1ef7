// The webhook certificate's keeper: reads the Secret, applies certs.ts's rotation plan (create, or update at the version read; the loser of a race takes the winner's), patches the injector's caBundle, hands the serving pair to the webhook; it talks to the cluster only through the small WebhookTlsApi it is given and must never touch another object.
import { planWebhookTls, type WebhookTls } from "./certs.js";
import { WEBHOOK_CONFIG, WEBHOOK_SECRET } from "./names.js";

/** The four calls the keeper makes; `kubernetesWebhookTlsApi` implements them with the official client. */
export interface WebhookTlsApi {
  /** The Secret's data (decoded PEM strings) and resourceVersion, or null when there is none. */
  readSecret(): Promise<{ data: Partial<WebhookTls>; resourceVersion: string } | null>;
  /** false: someone created it first (409). */
  createSecret(data: WebhookTls): Promise<boolean>;
  /** false: it changed since `resourceVersion` was read (409). */
  replaceSecret(data: WebhookTls, resourceVersion: string): Promise<boolean>;
  /** The caBundle every webhook of the configuration carries now (PEM), and setting it. */
  readCaBundle(): Promise<string[]>;
  patchCaBundle(bundlePem: string, webhookCount: number): Promise<void>;
}

export interface TlsRound {
  /** The pair to serve. */
  cert: string;
  key: string;
  /** What this round wrote: the Secret and/or the caBundle. */
  wroteSecret: boolean;
  patchedBundle: boolean;
}

/** One round: make the Secret and the caBundle what the plan says, and return the pair to serve. */
export async function syncWebhookTls(
  api: WebhookTlsApi,
  opts: { namespace: string; now?: Date },
): Promise<TlsRound> {
  let wroteSecret = false;
  let data: WebhookTls | undefined;
  for (let attempt = 0; attempt < 5 && data === undefined; attempt++) {
    const current = await api.readSecret();
    const plan = planWebhookTls(current?.data, opts);
    if (!plan.changed) data = plan.data;
    else if (
      current === null
        ? await api.createSecret(plan.data)
        : await api.replaceSecret(plan.data, current.resourceVersion)
    ) {
      data = plan.data;
      wroteSecret = true;
    }
    // Lost a race with another replica: read again and take what it wrote.
  }
  if (data === undefined)
    throw new Error(`${WEBHOOK_SECRET}: kept changing under us; retrying later`);
  const want = Buffer.from(data["bundle.crt"]).toString("base64");
  const bundles = await api.readCaBundle();
  const stale = bundles.some((b) => b !== want);
  if (stale) await api.patchCaBundle(data["bundle.crt"], bundles.length);
  return { cert: data["tls.crt"], key: data["tls.key"], wroteSecret, patchedBundle: stale };
}

/** The API calls over @kubernetes/client-node (loaded by the caller, who owns the KubeConfig). */
export function kubernetesWebhookTlsApi(
  // biome-ignore lint/suspicious/noExplicitAny: the official client's API classes, passed in so this module never loads it
  core: any,
  // biome-ignore lint/suspicious/noExplicitAny: as above
  admission: any,
  namespace: string,
): WebhookTlsApi {
  const status = (err: unknown): number | undefined =>
    (err as { code?: number; statusCode?: number }).code ??
    (err as { statusCode?: number }).statusCode;
  const encode = (d: WebhookTls) =>
    Object.fromEntries(Object.entries(d).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  const body = (d: WebhookTls, resourceVersion?: string) => ({
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: {
      name: WEBHOOK_SECRET,
      namespace,
      labels: { "app.kubernetes.io/part-of": "lanemesh" },
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    data: encode(d),
  });
  return {
    async readSecret() {
      try {
        const s = await core.readNamespacedSecret({ name: WEBHOOK_SECRET, namespace });
        const data = Object.fromEntries(
          Object.entries((s.data ?? {}) as Record<string, string>).map(([k, v]) => [
            k,
            Buffer.from(v, "base64").toString("utf8"),
          ]),
        );
        return { data, resourceVersion: s.metadata?.resourceVersion ?? "" };
      } catch (err) {
        if (status(err) === 404) return null;
        throw err;
      }
    },
    async createSecret(d) {
      try {
        await core.createNamespacedSecret({ namespace, body: body(d) });
        return true;
      } catch (err) {
        if (status(err) === 409) return false;
        throw err;
      }
    },
    async replaceSecret(d, resourceVersion) {
      try {
        await core.replaceNamespacedSecret({
          name: WEBHOOK_SECRET,
          namespace,
          body: body(d, resourceVersion),
        });
        return true;
      } catch (err) {
        if (status(err) === 409) return false;
        throw err;
      }
    },
    async readCaBundle() {
      const c = await admission.readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
      return ((c.webhooks ?? []) as { clientConfig?: { caBundle?: string } }[]).map(
        (w) => w.clientConfig?.caBundle ?? "",
      );
    },
    async patchCaBundle(bundlePem, count) {
      const caBundle = Buffer.from(bundlePem).toString("base64");
      const ops = Array.from({ length: count }, (_, i) => ({
        op: "add",
        path: `/webhooks/${i}/clientConfig/caBundle`,
        value: caBundle,
      }));
      await admission.patchMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG, body: ops });
    },
  };
}

/** Keep the certificate current: a round now and every `intervalMs`; each new pair goes to `serve`. */
export function startWebhookTlsKeeper(opts: {
  api: WebhookTlsApi;
  namespace: string;
  serve: (cert: string, key: string) => void;
  onError?: (err: Error) => void;
  intervalMs?: number;
}): { first: Promise<TlsRound>; stop(): void } {
  let last = "";
  let stopped = false;
  const round = async (): Promise<TlsRound> => {
    const r = await syncWebhookTls(opts.api, { namespace: opts.namespace });
    if (!stopped && r.cert !== last) {
      last = r.cert;
      opts.serve(r.cert, r.key);
    }
    return r;
  };
  const first = round();
  const timer = setInterval(
    () => {
      round().catch((err: Error) => opts.onError?.(err));
    },
    opts.intervalMs ?? 5 * 60_000,
  );
  timer.unref();
  return {
    first,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
