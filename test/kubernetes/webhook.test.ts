// The injection webhook over real TLS (certificates made by src/kubernetes/certs.ts, checked by Node's TLS client): a Deployment's pod gets exactly the mutation `inject` writes; refusals, limits, rotation; and the certificate rotation plan.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import {
  createCertificateAuthority,
  issueServingCertificate,
  planWebhookTls,
  webhookDnsNames,
} from "../../src/kubernetes/certs.js";
import type { InjectOptions } from "../../src/kubernetes/inject.js";
import { type RunningWebhook, startWebhook } from "../../src/kubernetes/webhook.js";
import { CLI, REPO } from "../helpers/procs.js";

const DIR = join(REPO, "test/fixtures/kubernetes");
const OPTIONS: InjectOptions = {
  image: "ghcr.io/lanemesh/lanemesh:0.0.0-test",
  controlPlaneNamespace: "lanemesh-system",
  legacy: false,
  version: "0.0.0-test",
};

// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes objects
type Json = Record<string, any>;

interface Reply {
  status: number;
  body: string;
}

function post(
  port: number,
  ca: string,
  body: string | Buffer,
  opts: { path?: string; method?: string; headers?: Record<string, string | number> } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        servername: "localhost",
        ca,
        path: opts.path ?? "/inject",
        method: opts.method ?? "POST",
        headers: { "content-type": "application/json", ...opts.headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** A pod as the ReplicaSet controller makes it from a Deployment's template. */
function podOf(deployment: Json): Json {
  const t = structuredClone(deployment.spec.template);
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      ...t.metadata,
      generateName: `${deployment.metadata.name}-5d8f7c9b6-`,
      namespace: deployment.metadata.namespace,
      labels: { ...t.metadata.labels, "pod-template-hash": "5d8f7c9b6" },
      ownerReferences: [
        {
          apiVersion: "apps/v1",
          kind: "ReplicaSet",
          name: `${deployment.metadata.name}-5d8f7c9b6`,
        },
      ],
    },
    spec: t.spec,
  };
}

function reviewOf(pod: Json, uid = "705ab4f5-6393-11e8-b7cc-42010a800002"): string {
  return JSON.stringify({
    apiVersion: "admission.k8s.io/v1",
    kind: "AdmissionReview",
    request: {
      uid,
      kind: { group: "", version: "v1", kind: "Pod" },
      resource: { group: "", version: "v1", resource: "pods" },
      namespace: pod.metadata.namespace,
      operation: "CREATE",
      userInfo: { username: "system:serviceaccount:kube-system:replicaset-controller" },
      object: pod,
      dryRun: false,
    },
  });
}

/** RFC 6902 add, written here independently of src/ (the test must not trust its own subject). */
function applyPatch(doc: Json, ops: { op: string; path: string; value: unknown }[]): Json {
  const out = structuredClone(doc);
  for (const op of ops) {
    assert.equal(op.op, "add");
    const keys = op.path
      .split("/")
      .slice(1)
      .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop() as string;
    let node: Json = out;
    for (const k of keys) node = node[k];
    if (Array.isArray(node)) {
      if (last === "-") node.push(op.value);
      else node.splice(Number(last), 0, op.value);
    } else node[last] = op.value;
  }
  return out;
}

describe("injection webhook", () => {
  const ca = createCertificateAuthority();
  const serving = issueServingCertificate(ca, { dnsNames: ["localhost"] });
  let hook: RunningWebhook;
  before(async () => {
    hook = await startWebhook({
      port: 0,
      host: "127.0.0.1",
      cert: serving.cert,
      key: serving.key,
      inject: OPTIONS,
      maxBodyBytes: 1024 * 1024,
    });
  });
  after(() => hook.close());

  it("answers a real AdmissionReview for a Deployment's pod with the patch inject writes", async () => {
    const input = readFileSync(join(DIR, "deployment.yaml"), "utf8");
    const deployment = parseAllDocuments(input)[0]?.toJS() as Json;
    const golden = parseAllDocuments(
      readFileSync(join(DIR, "deployment.golden.yaml"), "utf8"),
    )[0]?.toJS() as Json;
    const pod = podOf(deployment);
    const r = await post(hook.port, ca.cert, reviewOf(pod));
    assert.equal(r.status, 200, r.body);
    const review = JSON.parse(r.body);
    assert.equal(review.apiVersion, "admission.k8s.io/v1");
    assert.equal(review.kind, "AdmissionReview");
    assert.equal(review.response.uid, "705ab4f5-6393-11e8-b7cc-42010a800002");
    assert.equal(review.response.allowed, true);
    assert.equal(review.response.patchType, "JSONPatch");
    const ops = JSON.parse(Buffer.from(review.response.patch, "base64").toString("utf8"));
    const patched = applyPatch(pod, ops);
    assert.deepEqual(patched.spec, golden.spec.template.spec);
    assert.deepEqual(patched.metadata.annotations, golden.spec.template.metadata.annotations);
    assert.deepEqual(patched.metadata.labels, pod.metadata.labels, "labels untouched");
    // A second review of the injected pod (reinvocation) changes nothing.
    const again = JSON.parse((await post(hook.port, ca.cert, reviewOf(patched))).body);
    assert.equal(again.response.allowed, true);
    assert.equal(again.response.patch, undefined);
  });

  it("the same for a bare pod and a CronJob's pod (no labels beyond the template's)", async () => {
    for (const [file, toPod] of [
      ["pod", (d: Json) => d],
      [
        "cronjob",
        (d: Json) => ({
          metadata: {
            ...d.spec.jobTemplate.spec.template.metadata,
            namespace: "shop",
            generateName: "nightly-report-29000000-",
            ownerReferences: [{ kind: "Job", name: "nightly-report-29000000" }],
          },
          spec: d.spec.jobTemplate.spec.template.spec,
        }),
      ],
    ] as const) {
      const input = parseAllDocuments(
        readFileSync(join(DIR, `${file}.yaml`), "utf8"),
      )[0]?.toJS() as Json;
      const golden = parseAllDocuments(
        readFileSync(join(DIR, `${file}.golden.yaml`), "utf8"),
      )[0]?.toJS() as Json;
      const want =
        file === "pod"
          ? golden
          : {
              metadata: golden.spec.jobTemplate.spec.template.metadata,
              spec: golden.spec.jobTemplate.spec.template.spec,
            };
      const pod = toPod(input);
      const review = JSON.parse((await post(hook.port, ca.cert, reviewOf(pod))).body);
      const patched = applyPatch(
        pod,
        JSON.parse(Buffer.from(review.response.patch, "base64").toString()),
      );
      assert.deepEqual(patched.spec, want.spec, file);
      assert.deepEqual(patched.metadata.annotations, want.metadata.annotations, file);
    }
  });

  it("admits what it does not inject: opted out silently, unusable with a warning, other kinds untouched", async () => {
    const optOut = {
      metadata: { name: "p", annotations: { "lanemesh.io/inject": "false" } },
      spec: { containers: [{ name: "c", ports: [{ containerPort: 1 }] }] },
    };
    const r1 = JSON.parse((await post(hook.port, ca.cert, reviewOf(optOut, "u1"))).body).response;
    assert.deepEqual(r1, { uid: "u1", allowed: true });
    const noPort = { metadata: { name: "p" }, spec: { containers: [{ name: "c" }] } };
    const r2 = JSON.parse((await post(hook.port, ca.cert, reviewOf(noPort, "u2"))).body).response;
    assert.equal(r2.allowed, true);
    assert.equal(r2.patch, undefined);
    assert.match(r2.warnings[0], /not injected: no app port/);
    const notPod = JSON.parse(reviewOf(noPort, "u3"));
    notPod.request.kind = { group: "apps", version: "v1", kind: "Deployment" };
    const r3 = JSON.parse((await post(hook.port, ca.cert, JSON.stringify(notPod))).body).response;
    assert.deepEqual(r3, { uid: "u3", allowed: true });
  });

  it("refuses what is not an AdmissionReview POST: 404, 405, 400, and 413 over the body limit", async () => {
    assert.equal((await post(hook.port, ca.cert, "", { path: "/other" })).status, 404);
    assert.equal((await post(hook.port, ca.cert, "", { method: "GET" })).status, 405);
    assert.equal((await post(hook.port, ca.cert, "{not json")).status, 400);
    assert.equal((await post(hook.port, ca.cert, JSON.stringify({ kind: "Pod" }))).status, 400);
    const big = Buffer.alloc(1024 * 1024 + 1, 0x20);
    assert.equal((await post(hook.port, ca.cert, big)).status, 413);
    // Chunked (no Content-Length): counted as it arrives.
    const chunked = await post(hook.port, ca.cert, big, {
      headers: { "transfer-encoding": "chunked" },
    });
    assert.equal(chunked.status, 413);
    assert.equal(
      (await post(hook.port, ca.cert, reviewOf({ metadata: {}, spec: { containers: [] } }))).status,
      200,
    );
  });

  it("serves a rotated certificate once swapped in, and a client trusting only the old CA is refused", async () => {
    const ca2 = createCertificateAuthority();
    const s2 = issueServingCertificate(ca2, { dnsNames: ["localhost"] });
    hook.setCertificate(s2.cert, s2.key);
    const ok = await post(
      hook.port,
      ca2.cert,
      reviewOf({ metadata: {}, spec: { containers: [] } }),
    );
    assert.equal(ok.status, 200);
    await assert.rejects(
      post(hook.port, ca.cert, "{}"),
      /self.signed|unable to verify|certificate/i,
    );
    hook.setCertificate(serving.cert, serving.key);
  });
});

describe("lanemesh webhook (the command)", () => {
  it("serves the webhook from certificate files and stops on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lanemesh-webhook-"));
    try {
      const ca = createCertificateAuthority();
      const s = issueServingCertificate(ca, { dnsNames: ["localhost"] });
      writeFileSync(join(dir, "tls.crt"), s.cert);
      writeFileSync(join(dir, "tls.key"), s.key);
      const child = spawn(
        process.execPath,
        [
          CLI,
          "webhook",
          "--port",
          "0",
          "--bind",
          "127.0.0.1",
          "--tls-cert-file",
          join(dir, "tls.crt"),
          "--tls-key-file",
          join(dir, "tls.key"),
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, LANEMESH_LOG_LEVEL: "warn" } },
      );
      const exited = new Promise<number | null>((resolve) => child.on("close", resolve));
      try {
        const port = await new Promise<number>((resolve, reject) => {
          let out = "";
          child.stdout.setEncoding("utf8").on("data", (d: string) => {
            out += d;
            const m = /webhook: https:\/\/127\.0\.0\.1:(\d+)\/inject/.exec(out);
            if (m) resolve(Number(m[1]));
          });
          child.on("close", (code) => reject(new Error(`exited ${code}: ${out}`)));
        });
        const pod = {
          metadata: { name: "p", labels: { app: "p" } },
          spec: { containers: [{ name: "c", ports: [{ containerPort: 80 }] }] },
        };
        const r = await post(port, ca.cert, reviewOf(pod, "cli"));
        const response = JSON.parse(r.body).response;
        assert.equal(response.uid, "cli");
        assert.equal(response.patchType, "JSONPatch");
      } finally {
        child.kill("SIGTERM");
      }
      assert.equal(await exited, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("webhook certificates", () => {
  const DAY = 86_400_000;
  const t0 = new Date("2026-01-01T00:00:00Z");

  it("a CA and a serving cert for the Service's names that verify as a chain", () => {
    const { data, changed } = planWebhookTls(undefined, { namespace: "lanemesh-system", now: t0 });
    assert.equal(changed, true);
    const caCert = new X509Certificate(data["ca.crt"]);
    const leaf = new X509Certificate(data["tls.crt"]);
    assert.ok(caCert.ca);
    assert.ok(!leaf.ca);
    assert.ok(leaf.checkIssued(caCert));
    assert.ok(leaf.verify(caCert.publicKey));
    for (const name of webhookDnsNames("lanemesh-system")) assert.ok(leaf.checkHost(name), name);
    assert.equal(leaf.checkHost("lanemesh-control-plane.other.svc"), undefined);
    assert.equal(data["bundle.crt"], data["ca.crt"]);
  });

  it("keeps what is fresh, renews the serving cert with a third of its life left, rolls the CA with both trusted", () => {
    const first = planWebhookTls(undefined, { namespace: "ns", now: t0 }).data;
    const same = planWebhookTls(first, { namespace: "ns", now: new Date(t0.getTime() + 10 * DAY) });
    assert.equal(same.changed, false);
    assert.deepEqual(same.data, first);
    const renewed = planWebhookTls(first, {
      namespace: "ns",
      now: new Date(t0.getTime() + 61 * DAY),
    });
    assert.equal(renewed.changed, true);
    assert.equal(renewed.data["ca.crt"], first["ca.crt"]);
    assert.notEqual(renewed.data["tls.crt"], first["tls.crt"]);
    const rolled = planWebhookTls(renewed.data, {
      namespace: "ns",
      now: new Date(t0.getTime() + 250 * DAY),
    });
    assert.equal(rolled.changed, true);
    assert.notEqual(rolled.data["ca.crt"], first["ca.crt"]);
    assert.equal(rolled.data["bundle.crt"], rolled.data["ca.crt"] + first["ca.crt"]);
    assert.ok(
      new X509Certificate(rolled.data["tls.crt"]).checkIssued(
        new X509Certificate(rolled.data["ca.crt"]),
      ),
    );
    // A namespace change (the Service moved) reissues the serving cert.
    const moved = planWebhookTls(first, { namespace: "other", now: new Date(t0.getTime() + DAY) });
    assert.ok(moved.changed && moved.data["tls.crt"] !== first["tls.crt"]);
  });
});
