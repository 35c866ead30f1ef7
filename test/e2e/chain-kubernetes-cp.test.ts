// The seed's chain as installed on Kubernetes, in real processes: one control plane (`--store kubernetes --discovery kubernetes --proxy-auth kubernetes`) follows the lane custom resources, EndpointSlices and Pods of a fake API server and streams endpoints to a gateway and sidecars that hold no watch of their own (`--discovery control-plane`, projected-token identity).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeKubeApiServer, pod } from "../helpers/kube-api-server.js";
import { applySeedPods, seedPodName } from "../helpers/kube-seed.js";
import { FakeTokenReviews } from "../helpers/kube-token-review.js";
import {
  APP_KEYS,
  APPS,
  type AppKey,
  type AppPorts,
  appArgs,
  freePorts,
  type Proc,
  ProcGroup,
  sidecarArgs,
  until,
  waitListening,
  waitReady,
} from "../helpers/procs.js";
import { group, headerLane, route } from "../helpers/sync-fixtures.js";

const NS = "mall";
const CP_TOKEN = "control-plane-sa-token";
const podName = seedPodName;

/** A lanemesh document as a custom resource in namespace NS. */
function cr(doc: unknown) {
  const d = doc as { kind: string; metadata: { name: string }; spec: unknown };
  return { metadata: { name: d.metadata.name, namespace: NS }, spec: d.spec };
}

describe("the chain with endpoints aggregated by the control plane (real processes)", {
  timeout: 180_000,
}, () => {
  let api: FakeKubeApiServer;
  let dir: string;
  const procs = new ProcGroup();
  let gatewayPort = 0;
  let ports: Record<AppKey, AppPorts>;
  let cpHttp = 0;

  before(async () => {
    api = await FakeKubeApiServer.start();
    const reviews = new FakeTokenReviews(api);
    dir = mkdtempSync(join(tmpdir(), "lanemesh-kube-cp-"));
    const kubeconfig = join(dir, "kubeconfig.yaml");
    writeFileSync(kubeconfig, api.kubeConfigYaml(CP_TOKEN));
    const free = await freePorts(4 + APP_KEYS.length * 4);
    const take = () => free.pop() as number;
    const cpGrpc = take();
    cpHttp = take();
    gatewayPort = take();
    const gatewayAdmin = take();
    ports = Object.fromEntries(
      APP_KEYS.map((k) => [k, { app: take(), inbound: take(), outbound: take(), admin: take() }]),
    ) as Record<AppKey, AppPorts>;

    // What `kubectl apply -f deploy/seed.yaml` and the cluster's controllers would have made.
    api.apply("routes", cr(route("a-route", "/a", "sc-a")));
    api.apply("lanegroups", cr(group("mall", ["a-route"], ["sc-a", "sc-b", "sc-c"])));
    api.apply("lanes", cr(headerLane("gray", "mall", "gray")));
    const tokenFile = (who: string, podOf: string) => {
      const token = `projected-token-of-${who}`;
      reviews.issue(token, { namespace: NS, serviceAccount: "default", pod: podOf });
      const file = join(dir, `${who}.token`);
      writeFileSync(file, `${token}\n`, { mode: 0o600 });
      return file;
    };
    api.apply(
      "pods",
      pod({
        namespace: NS,
        name: "gateway-0",
        ip: "127.0.0.1",
        labels: { app: "gateway", "lanemesh.io/gateway": "default" },
      }),
    );
    applySeedPods(api, NS, ports);

    const cp = procs.spawn(
      "control-plane",
      [
        "control-plane",
        "--store",
        "kubernetes",
        "--discovery",
        "kubernetes",
        "--proxy-auth",
        "kubernetes",
        "--grpc-port",
        String(cpGrpc),
        "--http-port",
        String(cpHttp),
        "--data-dir",
        join(dir, "cp-data"),
        "--debounce-ms",
        "20",
      ],
      { KUBECONFIG: kubeconfig, POD_NAMESPACE: "lanemesh-system", POD_NAME: "cp-0" },
    );
    await waitListening(cp, cpHttp, 90_000);
    // The proxies get no kubeconfig at all: whatever they did, they could not watch.
    const common = ["--bind", "127.0.0.1", "--drain-seconds", "1"];
    const cpFlags = [
      "--discovery",
      "control-plane",
      "--control-plane",
      `127.0.0.1:${cpGrpc}`,
      "--state-dir",
      join(dir, "state"),
    ];
    const gateway = procs.spawn("gateway", [
      "gateway",
      "--port",
      String(gatewayPort),
      "--admin-port",
      String(gatewayAdmin),
      "--token-file",
      tokenFile("gateway", "gateway-0"),
      ...common,
      ...cpFlags,
    ]);
    const waits: Promise<void>[] = [waitReady(gateway, gatewayAdmin, 90_000)];
    for (const k of APP_KEYS) {
      const file = tokenFile(`sidecar-${k}`, podName(k));
      const sc: Proc = procs.spawn(
        `sidecar ${k}`,
        sidecarArgs(k, ports[k], [...common, ...cpFlags, "--token-file", file]),
      );
      const app = procs.spawn(`app ${k}`, appArgs(k, ports[k]));
      waits.push(waitReady(sc, ports[k].admin, 90_000), waitListening(app, ports[k].app, 90_000));
    }
    try {
      await Promise.all(waits);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${procs.dump()}`);
    }
  });

  after(async () => {
    await procs.killAll();
    await api?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const get = async (headers: Record<string, string> = {}) => {
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/a`, { headers });
    return { status: res.status, body: await res.text() };
  };

  it("serves base and gray chains with endpoints from EndpointSlices, tags from pod labels", async () => {
    const base = await until("base chain", get, (r) => r.status === 200);
    assert.match(base.body, /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[[^\]]+\]$/m);
    const gray = await get({ canary: "gray" });
    assert.match(gray.body, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> Cgray\[[^\]]+\]$/m);
    assert.ok(gray.body.includes(`Cgray[127.0.0.1:${ports.cg.app}]`), gray.body);
    const metrics = await (await fetch(`http://127.0.0.1:${cpHttp}/metrics`)).text();
    assert.match(metrics, /^lanemesh_cp_version_lease_holder 1$/m);
    assert.match(metrics, /^lanemesh_cp_resources_refused 0$/m);
    // The endpoints proxies are sent are the cluster's, once each: hellos add none.
    const config = (await (await fetch(`http://127.0.0.1:${cpHttp}/v1/config`)).json()) as {
      endpoints: { service: string; port: number; tag: string | null }[];
    };
    assert.deepEqual(
      config.endpoints.map((e) => `${e.service}:${e.port}:${e.tag ?? "base"}`).sort(),
      APP_KEYS.map((k) => `${APPS[k].service}:${ports[k].inbound}:${APPS[k].tag ?? "base"}`).sort(),
    );
  });

  it("only the control plane watched the API server (its five resources, cluster-wide), no proxy did", () => {
    const watches = api.requests.filter((r) => r.watch);
    assert.ok(watches.length > 0, "the control plane watches");
    for (const w of watches)
      assert.equal(
        w.authorization,
        `Bearer ${CP_TOKEN}`,
        `a watch of ${w.resource} by someone else`,
      );
    const watched = new Set(watches.map((w) => `${w.resource}@${w.namespace ?? "*"}`));
    assert.deepEqual([...watched].sort(), [
      "endpointslices@*",
      "lanegroups@*",
      "lanes@*",
      "pods@*",
      "routes@*",
    ]);
    assert.ok(
      api.requests.every((r) => r.authorization === `Bearer ${CP_TOKEN}`),
      "no request at all came from a proxy (their tokens go to the control plane only)",
    );
  });

  it("a relabelled pod moves the lane for every proxy, through the control plane", async () => {
    api.apply(
      "pods",
      pod({
        namespace: NS,
        name: podName("cg"),
        ip: "127.0.0.1",
        annotations: { "lanemesh.io/inbound-port": String(ports.cg.inbound) },
      }),
    );
    await until(
      "gray chain ends on base C",
      () => get({ canary: "gray" }),
      (r) => /-> C\[/.test(r.body),
      60_000,
    );
  });
});
