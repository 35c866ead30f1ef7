// The webhook certificate keeper against an in-memory API with the API server's optimistic concurrency: two replicas starting at once end up serving one certificate that the caBundle trusts, a second round writes nothing, rotation rolls the bundle; a TLS client trusting the caBundle reaches the webhook.
import assert from "node:assert/strict";
import { request } from "node:https";
import { describe, it } from "node:test";
import type { WebhookTls } from "../../src/kubernetes/certs.js";
import { startWebhook } from "../../src/kubernetes/webhook.js";
import {
  startWebhookTlsKeeper,
  syncWebhookTls,
  type WebhookTlsApi,
} from "../../src/kubernetes/webhook-tls.js";

/** A Secret and a two-webhook configuration, with resourceVersion checks like the API server's. */
class FakeApi implements WebhookTlsApi {
  secret: { data: WebhookTls; resourceVersion: string } | null = null;
  bundles = ["", ""];
  writes = 0;
  patches = 0;
  private rv = 1;
  /** Runs between a replica's read and its write, to stage a race. */
  beforeWrite: (() => void) | null = null;

  async readSecret() {
    return (
      this.secret && { data: { ...this.secret.data }, resourceVersion: this.secret.resourceVersion }
    );
  }
  async createSecret(data: WebhookTls) {
    this.fire();
    if (this.secret) return false;
    this.secret = { data, resourceVersion: String(++this.rv) };
    this.writes++;
    return true;
  }
  async replaceSecret(data: WebhookTls, resourceVersion: string) {
    this.fire();
    if (this.secret?.resourceVersion !== resourceVersion) return false;
    this.secret = { data, resourceVersion: String(++this.rv) };
    this.writes++;
    return true;
  }
  async readCaBundle() {
    return [...this.bundles];
  }
  async patchCaBundle(pem: string, count: number) {
    assert.equal(count, this.bundles.length);
    this.bundles = this.bundles.map(() => Buffer.from(pem).toString("base64"));
    this.patches++;
  }
  private fire() {
    const f = this.beforeWrite;
    this.beforeWrite = null;
    f?.();
  }
}

describe("webhook certificate keeper", () => {
  it("two replicas racing at start serve the same certificate, and the caBundle trusts it", async () => {
    const api = new FakeApi();
    // Replica B creates the Secret between replica A's read and A's create.
    let b: Awaited<ReturnType<typeof syncWebhookTls>> | undefined;
    const bPromise = new Promise<void>((resolve) => {
      api.beforeWrite = () => {
        void syncWebhookTls(api, { namespace: "lanemesh-system" }).then((r) => {
          b = r;
          resolve();
        });
      };
    });
    const a = await syncWebhookTls(api, { namespace: "lanemesh-system" });
    await bPromise;
    assert.ok(b);
    assert.equal(a.cert, b.cert, "one certificate for both replicas");
    assert.equal(api.writes, 1);
    assert.equal(a.cert, api.secret?.data["tls.crt"]);
    const bundle = Buffer.from(api.secret?.data["bundle.crt"] ?? "").toString("base64");
    assert.deepEqual(api.bundles, [bundle, bundle]);
    const again = await syncWebhookTls(api, { namespace: "lanemesh-system" });
    assert.deepEqual([again.wroteSecret, again.patchedBundle, again.cert], [false, false, a.cert]);
    // Months later: the CA rolls, the bundle trusts old and new.
    const later = await syncWebhookTls(api, {
      namespace: "lanemesh-system",
      now: new Date(Date.now() + 250 * 86_400_000),
    });
    assert.ok(later.wroteSecret && later.patchedBundle);
    const pems = Buffer.from(api.bundles[0] ?? "", "base64")
      .toString()
      .match(/BEGIN CERTIFICATE/g);
    assert.equal(pems?.length, 2);
  });

  it("feeds the webhook: a client trusting the caBundle reaches it over TLS", async () => {
    const api = new FakeApi();
    let serve: ((cert: string, key: string) => void) | undefined;
    const keeper = startWebhookTlsKeeper({
      api,
      namespace: "ns",
      serve: (c, k) => serve?.(c, k),
      intervalMs: 3_600_000,
    });
    const first = await keeper.first;
    const hook = await startWebhook({
      port: 0,
      host: "127.0.0.1",
      cert: first.cert,
      key: first.key,
    });
    serve = (c, k) => hook.setCertificate(c, k);
    try {
      const ca = Buffer.from(api.bundles[0] ?? "", "base64").toString();
      const status = await new Promise<number>((resolve, reject) => {
        request(
          {
            host: "127.0.0.1",
            port: hook.port,
            path: "/healthz",
            ca,
            servername: "lanemesh-control-plane.ns.svc",
            agent: false,
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
          .on("error", reject)
          .end();
      });
      assert.equal(status, 200);
    } finally {
      keeper.stop();
      await hook.close();
    }
  });
});
