// The injection webhook served by `lanemesh control-plane --webhook-port` (a real process against the fake API server): it makes the certificate Secret, writes the caBundle into the injector's configuration, and answers a real TLS AdmissionReview with the image of --sidecar-image.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeKubeApiServer } from "../helpers/kube-api-server.js";
import { freePorts, ProcGroup, until, waitListening } from "../helpers/procs.js";

const CP_NS = "lanemesh-system";
const IMAGE = "registry.example/lanemesh:under-test";

// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes objects
type Json = Record<string, any>;

function post(port: number, ca: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        // The name the API server dials: the Service, checked against the certificate.
        servername: `lanemesh-control-plane.${CP_NS}.svc`,
        ca,
        path: "/inject",
        method: "POST",
        headers: { "content-type": "application/json" },
        agent: false,
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer in 30 s")));
    req.on("error", reject);
    req.end(body);
  });
}

describe("the webhook served by the control plane", { timeout: 120_000 }, () => {
  let api: FakeKubeApiServer;
  let dir: string;
  const procs = new ProcGroup();
  let webhookPort = 0;

  before(async () => {
    api = await FakeKubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), "lanemesh-cp-webhook-"));
    const kubeconfig = join(dir, "kubeconfig.yaml");
    writeFileSync(kubeconfig, api.kubeConfigYaml());
    // What `lanemesh install` applied: the injector's configuration, without a caBundle.
    api.apply("mutatingwebhookconfigurations", {
      metadata: { name: "lanemesh-sidecar-injector", namespace: "" },
      webhooks: [
        { name: "namespace.inject.lanemesh.io", clientConfig: { service: { name: "x" } } },
        { name: "object.inject.lanemesh.io", clientConfig: { service: { name: "x" } } },
      ],
    });
    const [grpc, http, hook] = (await freePorts(3)) as [number, number, number];
    webhookPort = hook;
    const cp = procs.spawn(
      "control-plane",
      [
        "control-plane",
        "--store",
        "kubernetes",
        "--webhook-port",
        String(hook),
        "--grpc-port",
        String(grpc),
        "--http-port",
        String(http),
        "--data-dir",
        join(dir, "data"),
      ],
      {
        KUBECONFIG: kubeconfig,
        POD_NAMESPACE: CP_NS,
        POD_NAME: "cp-0",
        LANEMESH_SIDECAR_IMAGE: IMAGE,
      },
    );
    try {
      await waitListening(cp, http, 90_000);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.dump()}`);
    }
  });

  after(async () => {
    await procs.killAll();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its certificate in the Secret and the CA in both webhooks' caBundle", async () => {
    const secret = api.object("secrets", CP_NS, "lanemesh-webhook-tls");
    assert.ok(secret, "the Secret was created");
    const bundle = secret.data["bundle.crt"] as string;
    const config = await until(
      "caBundle written",
      async () => api.object("mutatingwebhookconfigurations", "", "lanemesh-sidecar-injector"),
      (c) => c?.webhooks.every((w: Json) => w.clientConfig.caBundle === bundle) === true,
    );
    assert.equal(config?.webhooks.length, 2);
  });

  it("answers a real TLS AdmissionReview with the sidecar of --sidecar-image", async () => {
    const secret = api.object("secrets", CP_NS, "lanemesh-webhook-tls");
    const ca = Buffer.from(secret?.data["ca.crt"] as string, "base64").toString("utf8");
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "sc-b-1", namespace: "mall", labels: { app: "sc-b" } },
      spec: { containers: [{ name: "app", image: "app:1", ports: [{ containerPort: 8080 }] }] },
    };
    const uid = "6d9f7c1e-0000-4000-8000-000000000001";
    const r = await post(
      webhookPort,
      ca,
      JSON.stringify({
        apiVersion: "admission.k8s.io/v1",
        kind: "AdmissionReview",
        request: {
          uid,
          kind: { group: "", version: "v1", kind: "Pod" },
          resource: { group: "", version: "v1", resource: "pods" },
          namespace: "mall",
          operation: "CREATE",
          object: pod,
        },
      }),
    );
    assert.equal(r.status, 200, r.body);
    const review = JSON.parse(r.body) as Json;
    assert.equal(review.response.uid, uid);
    assert.equal(review.response.allowed, true);
    assert.equal(review.response.patchType, "JSONPatch");
    const ops = JSON.parse(Buffer.from(review.response.patch, "base64").toString("utf8")) as Json[];
    const images = JSON.stringify(ops).match(/"image":"[^"]+"/g) ?? [];
    assert.ok(images.length >= 2, JSON.stringify(ops));
    for (const i of images) assert.equal(i, `"image":"${IMAGE}"`);
    const text = JSON.stringify(ops);
    assert.match(text, /lanemesh-control-plane\.lanemesh-system\.svc:15010/);
    assert.match(text, /"audience":"lanemesh"/, "the projected token the proxy authenticates with");
  });
});
