// `--proxy-auth kubernetes` through the official client against the fake API server's TokenReview and pod GET: a pod's token admits its own app, address and tag only; the flag wires it into a control-plane process.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { KubeConfig } from "@kubernetes/client-node";
import { kubernetesAuthenticator } from "../../src/control-plane/kube-review.js";
import type { RunningControlPlane } from "../../src/control-plane/start.js";
import { type MeshClient, meshDefinition } from "../../src/protocol/wire.js";
import { bearer, startCp, statusOf, subscribe, tokenFile } from "../helpers/control-plane.js";
import { FakeKubeApiServer, pod } from "../helpers/kube-api-server.js";
import { FakeTokenReviews } from "../helpers/kube-token-review.js";
import { freePorts, ProcGroup, waitListening } from "../helpers/procs.js";
import { tempDir, when } from "../helpers/sync-fixtures.js";

/** Gateway pod `shop/edge-1` (label lanemesh.io/gateway: default) and its token `sa-token-gw`. */
function gatewayPod(api: FakeKubeApiServer, reviews: FakeTokenReviews): void {
  api.apply(
    "pods",
    pod({
      namespace: "shop",
      name: "edge-1",
      ip: "127.0.0.1",
      labels: { "lanemesh.io/gateway": "default" },
    }),
  );
  reviews.issue("sa-token-gw", { namespace: "shop", serviceAccount: "edge", pod: "edge-1" });
}

describe("proxy identity on Kubernetes (TokenReview)", () => {
  let api: FakeKubeApiServer;
  let reviews: FakeTokenReviews;
  let cp: RunningControlPlane;
  let client: MeshClient;
  const dir = tempDir("cp-kube-auth");

  before(async () => {
    api = await FakeKubeApiServer.start();
    reviews = new FakeTokenReviews(api);
    api.apply(
      "pods",
      pod({
        namespace: "shop",
        name: "sc-a-7d9f-x1",
        ip: "127.0.0.1",
        labels: { "app.kubernetes.io/name": "sc-a", "lanemesh.io/tag": "gray" },
      }),
    );
    gatewayPod(api, reviews);
    reviews.issue("sa-token-a", { namespace: "shop", serviceAccount: "sc-a", pod: "sc-a-7d9f-x1" });
    reviews.issue("sa-token-gone", {
      namespace: "shop",
      serviceAccount: "sc-a",
      pod: "deleted-pod",
    });
    reviews.issue("sa-token-other-audience", {
      namespace: "shop",
      serviceAccount: "sc-a",
      pod: "sc-a-7d9f-x1",
      audience: "vault",
    });
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions(api.kubeConfigOptions());
    cp = await startCp(dir.path, 1, 35, {
      proxyAuth: await kubernetesAuthenticator({ kubeConfig }),
    });
    client = new (meshDefinition().Client)(cp.grpcTarget, grpc.credentials.createInsecure());
  });

  after(async () => {
    client?.close();
    await cp?.close();
    await api?.close();
    dir.remove();
  });

  const hello = (
    token: string | undefined,
    app = "sc-a",
    tag = "gray",
    address = "127.0.0.1:7001",
  ) => {
    const call = client.Stream(token === undefined ? new grpc.Metadata() : bearer(token));
    call.on("error", () => {});
    call.on("data", () => {});
    call.write({
      hello: { nodeId: `${app}~${tag}~${address}`, role: "sidecar", app, tag, address },
    });
    return call;
  };

  it("refuses what the API server does not vouch for, and what the pod is not", async () => {
    const refused: [string, ReturnType<typeof hello>, grpc.status, RegExp][] = [
      ["no token", hello(undefined), grpc.status.UNAUTHENTICATED, /projected ServiceAccount token/],
      ["an unknown token", hello("forged"), grpc.status.UNAUTHENTICATED, /token lookup failed/],
      [
        "a token for another audience",
        hello("sa-token-other-audience"),
        grpc.status.UNAUTHENTICATED,
        /invalid for the target audiences/,
      ],
      [
        "a token of a deleted pod",
        hello("sa-token-gone"),
        grpc.status.UNAUTHENTICATED,
        /pod shop\/deleted-pod of the token does not exist/,
      ],
      [
        "another app than the pod's label",
        hello("sa-token-a", "sc-b"),
        grpc.status.PERMISSION_DENIED,
        /covers service\(s\) sc-a, not sc-b/,
      ],
      [
        "another lane tag than the pod's",
        hello("sa-token-a", "sc-a", ""),
        grpc.status.PERMISSION_DENIED,
        /lane tag gray, not \(base\)/,
      ],
      [
        "another address than the pod IP",
        hello("sa-token-a", "sc-a", "gray", "127.0.0.2:7001"),
        grpc.status.PERMISSION_DENIED,
        /not the IP of pod shop\/sc-a-7d9f-x1 \(127\.0\.0\.1\)/,
      ],
    ];
    for (const [what, call, code, details] of refused) {
      const st = await statusOf(call);
      assert.equal(st.code, code, `${what}: ${grpc.status[st.code]} ${st.details}`);
      assert.match(st.details, details, what);
    }
    assert.deepEqual(cp.controlPlane.list("instances"), []);
    assert.ok(
      reviews.reviews.every(
        (r) => r.authorization === "Bearer fake-token" && r.audiences.join() === "lanemesh",
      ),
      "reviews are made with the control plane's own credential, for audience lanemesh",
    );
  });

  it("the API server refusing TokenReviews is UNAVAILABLE (retry), not a verdict on the proxy", async () => {
    reviews.forbidden = true;
    try {
      const st = await statusOf(hello("sa-token-a"));
      assert.equal(st.code, grpc.status.UNAVAILABLE);
      assert.match(st.details, /system:auth-delegator/);
    } finally {
      reviews.forbidden = false;
    }
  });

  it("a pod's own projected token (--token-file) registers its app at its IP; a gateway pod's token admits the gateway", async (t) => {
    const call = hello("sa-token-a");
    t.after(() => call.cancel());
    const gw = subscribe(
      cp.grpcTarget,
      join(dir.path, "gw-state.json"),
      "edge-1",
      tokenFile(dir.path, "gw-sa", "sa-token-gw"),
    );
    t.after(() => gw.sub.close());
    await when(
      (cb) => gw.live.onChange(cb),
      () => (gw.live.current()?.endpoints ?? []).some((e) => e.port === 7001 && e.tag === "gray"),
      "the gateway to see sc-a gray",
    );
    const listed = cp.controlPlane.proxies().map((p) => `${p.nodeId} ${p.identity}`);
    assert.ok(
      listed.includes("sc-a~gray~127.0.0.1:7001 service account shop/sc-a (pod sc-a-7d9f-x1)"),
      listed.join("\n"),
    );
  });
});

it("`lanemesh control-plane --proxy-auth kubernetes` reviews tokens with the API server of KUBECONFIG", async (t) => {
  const api = await FakeKubeApiServer.start();
  const reviews = new FakeTokenReviews(api);
  const dir = tempDir("cp-kube-flag");
  const procs = new ProcGroup();
  t.after(async () => {
    await procs.killAll();
    await api.close();
    dir.remove();
  });
  gatewayPod(api, reviews);
  const kubeconfig = join(dir.path, "kubeconfig.yaml");
  writeFileSync(kubeconfig, api.kubeConfigYaml("cp-token"));
  const [grpcPort, httpPort] = (await freePorts(2)) as [number, number];
  const p = procs.spawn(
    "control-plane",
    [
      "control-plane",
      "--proxy-auth",
      "kubernetes",
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--data-dir",
      join(dir.path, "data"),
    ],
    { KUBECONFIG: kubeconfig },
  );
  await waitListening(p, grpcPort);
  const gw = subscribe(
    `127.0.0.1:${grpcPort}`,
    join(dir.path, "gw.json"),
    "edge-1",
    tokenFile(dir.path, "gw", "sa-token-gw"),
  );
  t.after(() => gw.sub.close());
  await gw.at("0");
  assert.deepEqual(
    reviews.reviews.map((r) => [r.token, r.authorization]),
    [["sa-token-gw", "Bearer cp-token"]],
  );
});
