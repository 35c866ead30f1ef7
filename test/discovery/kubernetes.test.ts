// Tests of --discovery kubernetes: the spec parser, and the resolver driven through the official client against the fake API server (mapping, watch events, re-watch and 410 re-list, outage, RBAC, a sidecar fed by it, lazy loading).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { pino } from "pino";
import type { Endpoint } from "../../src/config/types.js";
import { KubernetesResolver } from "../../src/discovery/kubernetes/resolver.js";
import {
  endpointsFromSlices,
  type PodLookup,
  type SliceLike,
} from "../../src/discovery/kubernetes/slices.js";
import {
  type KubernetesTarget,
  parseKubernetesSpec,
} from "../../src/discovery/kubernetes/target.js";
import type { ResolverError } from "../../src/discovery/types.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { endpointSlice, FakeKubeApiServer, pod } from "../helpers/kube-api-server.js";
import { loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { sample, send, TestUpstream } from "../helpers/upstream.js";

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const MODULE = new URL("../../src/discovery/kubernetes/resolver.js", import.meta.url).href;

/** Poll `cond` every 20 ms until it holds; fail naming `what` after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function kubeConfig(server: FakeKubeApiServer): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromOptions(server.kubeConfigOptions());
  return kc;
}

/** A resolver on the fake server, recording what it emits and reports, with its log lines. */
class Run {
  readonly sets: Endpoint[][] = [];
  readonly errors: ResolverError[] = [];
  readonly logs: string[] = [];
  readonly resolver: KubernetesResolver;

  constructor(server: FakeKubeApiServer, target: KubernetesTarget) {
    const log = pino({ level: "debug" }, { write: (line: string) => this.logs.push(line) });
    this.resolver = new KubernetesResolver(target, { kubeConfig: kubeConfig(server), log });
    this.resolver.start(
      (eps) => this.sets.push(eps),
      (err) => this.errors.push(err),
    );
  }

  get latest(): Endpoint[] | undefined {
    return this.sets.at(-1);
  }

  /** Wait until the latest emitted set satisfies `pred`. */
  async until(pred: (eps: Endpoint[]) => boolean, what: string, ms?: number): Promise<Endpoint[]> {
    await until(() => this.latest !== undefined && pred(this.latest), what, ms);
    return this.latest as Endpoint[];
  }

  logCount(msg: string): number {
    return this.logs.filter((l) => (JSON.parse(l) as { msg?: string }).msg === msg).length;
  }
}

/** `service address:port tag healthy` lines, sorted: compact to compare. */
function brief(eps: Endpoint[]): string[] {
  return eps
    .map(
      (e) => `${e.service} ${e.address}:${e.port} ${e.tag ?? "base"} ${e.healthy ? "up" : "down"}`,
    )
    .sort();
}

function ep(
  service: string,
  address: string,
  port: number,
  more: Partial<Endpoint> & { metadata?: Record<string, string> } = {},
): Endpoint {
  return {
    service,
    address,
    port,
    tag: null,
    weight: 100,
    healthy: true,
    metadata: {},
    ...more,
  };
}

const byKey = (a: Endpoint, b: Endpoint) =>
  `${a.service} ${a.address} ${a.port}` < `${b.service} ${b.address} ${b.port}` ? -1 : 1;

describe("parseKubernetesSpec", () => {
  test("defaults and parameters", () => {
    assert.deepEqual(parseKubernetesSpec("kubernetes"), { namespaces: null, port: null });
    assert.deepEqual(parseKubernetesSpec("kubernetes?namespace=mall,shop&port=http"), {
      namespaces: ["mall", "shop"],
      port: "http",
    });
    assert.deepEqual(parseKubernetesSpec("kubernetes?port=web-8080"), {
      namespaces: null,
      port: "web-8080",
    });
    assert.deepEqual(parseKubernetesSpec("kubernetes?namespace=a1"), {
      namespaces: ["a1"],
      port: null,
    });
  });

  test("each bad form is refused with its reason", () => {
    const cases: [string, RegExp][] = [
      ["kube", /expected "kubernetes" or "kubernetes\?namespace=NS\[,NS…\]&port=NAME", got "kube"/],
      ["kubernetes:mall", /expected "kubernetes"/],
      ["kubernetes?", /nothing after "\?"/],
      ["kubernetes?namespace=mall&", /empty parameter/],
      ["kubernetes?zone=a", /unknown parameter "zone": expected namespace or port/],
      ["kubernetes?namespace=a&namespace=b", /parameter "namespace" given twice/],
      ["kubernetes?namespace", /parameter "namespace" needs a value \(namespace=NS\[,NS…\]\)/],
      ["kubernetes?port=", /parameter "port" needs a value \(port=NAME\)/],
      ["kubernetes?namespace=Mall", /bad namespace "Mall": a namespace is a DNS label/],
      ["kubernetes?namespace=mall_shop", /bad namespace "mall_shop"/],
      [`kubernetes?namespace=${"a".repeat(64)}`, /bad namespace "a{64}"/],
      ["kubernetes?namespace=mall,,shop", /empty namespace in "mall,,shop"/],
      ["kubernetes?namespace=mall,mall", /namespace "mall" listed twice/],
      ["kubernetes?port=8080", /bad port "8080": give the EndpointSlice port's name/],
      ["kubernetes?port=HTTP", /bad port "HTTP"/],
      ["kubernetes?port=-http", /bad port "-http"/],
    ];
    for (const [spec, message] of cases) {
      const got = parseKubernetesSpec(spec);
      assert.ok("error" in got, `${spec} should be refused, got ${JSON.stringify(got)}`);
      assert.match(got.error, message, spec);
    }
  });

  test("source names what is followed", () => {
    const spec = "kubernetes?namespace=mall,shop&port=http";
    const target = parseKubernetesSpec(spec) as KubernetesTarget;
    assert.equal(new KubernetesResolver(target).source, spec);
    assert.equal(new KubernetesResolver({ namespaces: null, port: null }).source, "kubernetes");
  });
});

/** A pod `name` at `ip` and a slice `slice` of `service` listing it on port 8080 (named http). */
function onePod(
  s: FakeKubeApiServer,
  ns: string,
  service: string,
  name: string,
  ip: string,
  slice: string,
): void {
  s.apply("pods", pod({ namespace: ns, name, ip }));
  s.apply(
    "endpointslices",
    endpointSlice({
      namespace: ns,
      name: slice,
      service,
      ports: [{ name: "http", port: 8080 }],
      endpoints: [{ address: ip, pod: name }],
    }),
  );
}

describe("endpointsFromSlices (pure)", () => {
  test("a pod labelled base (any case) is untagged; an invalid label keeps the pod out", () => {
    const slice = endpointSlice({
      namespace: "m",
      name: "sc-x",
      service: "sc-x",
      ports: [{ name: "http", port: 80 }],
      endpoints: [
        { address: "10.9.0.1", pod: "x-1" },
        { address: "10.9.0.2", pod: "x-2" },
        { address: "10.9.0.3", pod: "x-3" },
      ],
    });
    const labels: Record<string, string> = { "x-1": "Base", "x-2": "gray", "x-3": "not a tag!" };
    const lookup: PodLookup = (_namespace, name) => ({
      metadata: { labels: { "lanemesh.io/tag": labels[name] ?? "" } },
    });
    const { endpoints, problems } = endpointsFromSlices([slice as SliceLike], lookup, null);
    assert.deepEqual(
      endpoints.map((e) => [e.address, e.tag]),
      [
        ["10.9.0.1", null],
        ["10.9.0.2", "gray"],
      ],
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0] ?? "", /x-3.*not a lane tag/);
  });
});

describe("KubernetesResolver against the fake API server", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });
  async function server(): Promise<FakeKubeApiServer> {
    const s = await FakeKubeApiServer.start();
    cleanups.push(() => s.close());
    return s;
  }
  function run(s: FakeKubeApiServer, target: KubernetesTarget): Run {
    const r = new Run(s, target);
    cleanups.push(() => r.resolver.close());
    return r;
  }

  test("maps two services' slices and pods to endpoints (ports, tags, health, merge)", async () => {
    const s = await server();
    const ns = "mall";
    s.apply("pods", pod({ namespace: ns, name: "a-1", ip: "10.0.0.1" }));
    s.apply(
      "pods",
      pod({ namespace: ns, name: "a-2", ip: "10.0.0.2", labels: { "lanemesh.io/tag": "gray" } }),
    );
    s.apply("pods", pod({ namespace: ns, name: "a-3", ip: "10.0.0.3" }));
    s.apply("pods", pod({ namespace: ns, name: "a-4", ip: "10.0.0.4" }));
    s.apply(
      "pods",
      pod({ namespace: ns, name: "a-5", ip: "10.0.0.5", labels: { "lanemesh.io/tag": "" } }),
    );
    s.apply(
      "pods",
      pod({
        namespace: ns,
        name: "b-1",
        ip: "10.0.1.1",
        annotations: { "lanemesh.io/inbound-port": "15006" },
      }),
    );
    s.apply(
      "pods",
      pod({
        namespace: ns,
        name: "b-2",
        ip: "10.0.1.2",
        labels: { "lanemesh.io/tag": "blue" },
        annotations: { "lanemesh.io/weight": "250" },
      }),
    );
    const aPorts = [
      { name: "metrics", port: 9090 },
      { name: "http", port: 8080 },
    ];
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-a-x1",
        service: "sc-a",
        ports: aPorts,
        endpoints: [
          { address: "10.0.0.1", pod: "a-1", node: "n1" },
          { address: "10.0.0.2", pod: "a-2", node: "n2" },
          { address: "10.0.0.3", pod: "a-3", ready: false },
        ],
      }),
    );
    // A second slice of sc-a: merged; 10.0.0.1 again is listed once.
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-a-x2",
        service: "sc-a",
        ports: aPorts,
        endpoints: [
          { address: "10.0.0.4", pod: "a-4", ready: null, terminating: true },
          { address: "10.0.0.5", pod: "a-5", ready: null },
          { address: "10.0.0.1", pod: "a-1", node: "n1" },
        ],
      }),
    );
    // sc-b: no port named http → the first TCP port (web 8081, after UDP dns).
    const bPorts = [
      { name: "dns", port: 53, protocol: "UDP" as const },
      { name: "web", port: 8081 },
      { name: "admin", port: 9901 },
    ];
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-b-v4",
        service: "sc-b",
        ports: bPorts,
        endpoints: [
          { address: "10.0.1.1", pod: "b-1" },
          { address: "10.0.1.2", pod: "b-2" },
          { address: "192.168.7.7" }, // no targetRef (a VM added by hand): base
        ],
      }),
    );
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-b-v6",
        service: "sc-b",
        addressType: "IPv6",
        ports: bPorts,
        endpoints: [{ address: "fd00::12", pod: "b-2" }],
      }),
    );
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-b-fqdn",
        service: "sc-b",
        addressType: "FQDN",
        ports: bPorts,
        endpoints: [{ address: "b.example.com" }],
      }),
    );
    // Not a Service's slice (no kubernetes.io/service-name label): ignored.
    const orphan = endpointSlice({
      namespace: ns,
      name: "orphan",
      service: "x",
      ports: aPorts,
      endpoints: [{ address: "10.9.9.9" }],
    });
    delete orphan.metadata.labels["kubernetes.io/service-name"];
    s.apply("endpointslices", orphan);
    // Another namespace that is not followed.
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: "other",
        name: "sc-a-o",
        service: "sc-a",
        ports: aPorts,
        endpoints: [{ address: "10.8.0.1" }],
      }),
    );

    const r = run(s, { namespaces: [ns], port: null });
    const got = await r.until(() => true, "the first emission");
    const m = (pod: string, node?: string) => ({ namespace: ns, pod, ...(node ? { node } : {}) });
    assert.deepEqual(
      [...got].sort(byKey),
      [
        ep("sc-a", "10.0.0.1", 8080, { metadata: m("a-1", "n1") }),
        ep("sc-a", "10.0.0.2", 8080, { tag: "gray", metadata: m("a-2", "n2") }),
        ep("sc-a", "10.0.0.3", 8080, { healthy: false, metadata: m("a-3") }),
        ep("sc-a", "10.0.0.4", 8080, { healthy: false, metadata: m("a-4") }),
        ep("sc-a", "10.0.0.5", 8080, { metadata: m("a-5") }),
        ep("sc-b", "10.0.1.1", 15006, { metadata: m("b-1") }),
        ep("sc-b", "10.0.1.2", 8081, { tag: "blue", weight: 250, metadata: m("b-2") }),
        ep("sc-b", "192.168.7.7", 8081, { metadata: { namespace: ns } }),
        ep("sc-b", "fd00::12", 8081, { tag: "blue", weight: 250, metadata: m("b-2") }),
      ].sort(byKey),
    );
    assert.equal(r.errors.length, 0);
    assert.equal(r.sets.length, 1, "one emission for the initial lists");

    // A named port: sc-a's "metrics"; sc-b has no such port, so none of its endpoints.
    const named = run(s, { namespaces: [ns], port: "metrics" });
    const gotNamed = await named.until(() => true, "the first emission (port=metrics)");
    assert.deepEqual(brief(gotNamed), [
      "sc-a 10.0.0.1:9090 base up",
      "sc-a 10.0.0.2:9090 gray up",
      "sc-a 10.0.0.3:9090 base down",
      "sc-a 10.0.0.4:9090 base down",
      "sc-a 10.0.0.5:9090 base up",
    ]);
    assert.ok(
      named.logs.some((l) => l.includes("sc-b-v4") && l.includes('TCP port named \\"metrics\\"')),
      "the skipped slice is logged",
    );

    // Two namespaces: one set, both followed; the lists and watches went through the client
    // with its credentials and the watch parameters a well-behaved informer sends.
    const both = run(s, { namespaces: [ns, "other"], port: null });
    const gotBoth = await both.until(() => true, "the first emission (two namespaces)");
    assert.equal(gotBoth.length, got.length + 1);
    assert.ok(gotBoth.some((e) => e.address === "10.8.0.1" && e.metadata.namespace === "other"));
    await until(() => s.openWatches("pods", "other") > 0, "a pod watch in namespace other");
    const watches = s.requests.filter((q) => q.watch);
    assert.ok(watches.length >= 2 * 4);
    for (const w of watches) {
      assert.equal(w.authorization, "Bearer fake-token");
      assert.equal(w.query.allowWatchBookmarks, "true");
      assert.match(w.query.resourceVersion ?? "", /^\d+$/);
      const t = Number(w.query.timeoutSeconds);
      assert.ok(t >= 300 && t < 600, `timeoutSeconds ${t}`);
    }
  });

  test("no namespace given: the pod's own (POD_NAMESPACE)", async () => {
    const s = await server();
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: "own",
        name: "sc-o",
        service: "sc-o",
        ports: [{ name: "http", port: 80 }],
        endpoints: [{ address: "10.6.0.1" }],
      }),
    );
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: "default",
        name: "sc-x",
        service: "sc-x",
        ports: [{ name: "http", port: 80 }],
        endpoints: [{ address: "10.6.0.2" }],
      }),
    );
    const saved = process.env.POD_NAMESPACE;
    process.env.POD_NAMESPACE = "own";
    try {
      const r = run(s, { namespaces: null, port: null });
      const got = await r.until(() => true, "the first emission");
      assert.deepEqual(brief(got), ["sc-o 10.6.0.1:80 base up"]);
      assert.deepEqual([...new Set(s.requests.map((q) => q.namespace))], ["own"]);
    } finally {
      if (saved === undefined) delete process.env.POD_NAMESPACE;
      else process.env.POD_NAMESPACE = saved;
    }
  });

  test("watch events reach onEndpoints: new gray pod, removed endpoint, relabel, deleted slice", async () => {
    const s = await server();
    const ns = "shop";
    onePod(s, ns, "sc-c", "c-1", "10.1.0.1", "sc-c-1");
    const r = run(s, { namespaces: [ns], port: null });
    await r.until((e) => e.length === 1, "the first emission");

    // A gray pod starts and its endpoint joins the slice.
    s.apply(
      "pods",
      pod({ namespace: ns, name: "c-2", ip: "10.1.0.2", labels: { "lanemesh.io/tag": "gray" } }),
    );
    s.update("endpointslices", ns, "sc-c-1", (o) => {
      o.endpoints.push({
        addresses: ["10.1.0.2"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", namespace: ns, name: "c-2" },
      });
    });
    // The two watches (slices, pods) are separate streams: until the pod's event is in, the new
    // endpoint is held back as unhealthy (its lane unknown), so wait for the settled state.
    let got = await r.until(
      (e) => e.length === 2 && e.every((x) => x.healthy),
      "the gray endpoint",
      5_000,
    );
    assert.deepEqual(brief(got), ["sc-c 10.1.0.1:8080 base up", "sc-c 10.1.0.2:8080 gray up"]);

    // The base endpoint leaves the slice.
    s.update("endpointslices", ns, "sc-c-1", (o) => {
      o.endpoints = o.endpoints.filter(
        (e: { addresses: string[] }) => e.addresses[0] !== "10.1.0.1",
      );
    });
    got = await r.until((e) => e.length === 1, "the base endpoint removed", 5_000);
    assert.deepEqual(brief(got), ["sc-c 10.1.0.2:8080 gray up"]);

    // Relabel the gray pod to base: only the pod changes, the slice does not.
    const requestsBefore = s.requests.length;
    s.update("pods", ns, "c-2", (o) => {
      delete o.metadata.labels["lanemesh.io/tag"];
    });
    got = await r.until((e) => e[0]?.tag === null, "the relabelled pod", 5_000);
    assert.deepEqual(brief(got), ["sc-c 10.1.0.2:8080 base up"]);
    assert.equal(s.requests.length, requestsBefore, "no new list or watch was needed");

    // A pod change that does not touch any endpoint does not re-emit.
    const emitted = r.sets.length;
    s.update("pods", ns, "c-2", (o) => {
      o.status.phase = "Running";
      o.metadata.labels.unrelated = "x";
    });
    // A negative: give the event time to arrive (far beyond the 20 ms coalescing window).
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(r.sets.length, emitted, "an unrelated pod change emits nothing");
    // The slice is deleted: the service is gone (a real, empty state, not an outage).
    s.remove("endpointslices", ns, "sc-c-1");
    got = await r.until((e) => e.length === 0, "the deleted slice", 5_000);
    assert.equal(r.sets.length, emitted + 1);
    assert.equal(r.errors.length, 0);
  });

  test("a watch the server ends is resumed; a 410 on re-watch (event or status) re-lists", async () => {
    const s = await server();
    const ns = "gone";
    onePod(s, ns, "sc-d", "d-1", "10.2.0.1", "sc-d");
    const r = run(s, { namespaces: [ns], port: null });
    await r.until((e) => e.length === 1, "the first emission");
    const lists = () => s.requests.filter((q) => q.resource !== null && !q.watch).length;
    const watchReqs = () => s.requests.filter((q) => q.watch).length;
    assert.equal(lists(), 2);
    await until(() => s.openWatches() === 2, "both watches open");

    // 1. The server ends both watches (timeoutSeconds ran out): the client re-watches from its
    //    resourceVersion, without a list, and later events still arrive.
    let w0 = watchReqs();
    s.closeWatches();
    await until(() => watchReqs() === w0 + 2 && s.openWatches() === 2, "both re-watches");
    s.apply("pods", pod({ namespace: ns, name: "d-2", ip: "10.2.0.2" }));
    s.update("endpointslices", ns, "sc-d", (o) => {
      o.endpoints.push({
        addresses: ["10.2.0.2"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", namespace: ns, name: "d-2" },
      });
    });
    await r.until((e) => e.length === 2, "an event after the re-watch", 5_000);
    assert.equal(lists(), 2, "a clean end of a watch does not re-list");

    // A bookmark moves the informer's resourceVersion: the next watch starts from it.
    s.apply("pods", pod({ namespace: "elsewhere", name: "z", ip: "10.9.0.1" }));
    const bookmarkRv = String(s.resourceVersion);
    s.bookmark();
    await new Promise((r) => setTimeout(r, 100));
    w0 = watchReqs();
    s.closeWatches();
    await until(() => watchReqs() === w0 + 2, "re-watches after the bookmark");
    for (const q of s.requests.filter((q) => q.watch).slice(-2)) {
      assert.equal(q.query.resourceVersion, bookmarkRv, `${q.resource} resumes from the bookmark`);
    }
    await until(() => s.openWatches() === 2, "both watches open again");

    // 2. Changes happen while the watches are down, and the history is compacted: the re-watch
    //    gets 410 (as an ERROR event in a 200 stream), the client re-lists and sees them.
    for (const goneAs of ["event", "status"] as const) {
      s.goneAs = goneAs;
      const listsBefore = lists();
      const release = s.holdWatches();
      w0 = watchReqs();
      s.closeWatches();
      await until(() => watchReqs() === w0 + 2, `held re-watches (${goneAs})`);
      if (goneAs === "event") {
        s.update("pods", ns, "d-2", (o) => {
          o.metadata.labels["lanemesh.io/tag"] = "gray";
        });
        s.update("endpointslices", ns, "sc-d", (o) => {
          o.endpoints = o.endpoints.filter(
            (e: { addresses: string[] }) => e.addresses[0] !== "10.2.0.1",
          );
        });
      } else {
        s.remove("pods", ns, "d-1");
        s.apply("pods", pod({ namespace: ns, name: "d-3", ip: "10.2.0.3" }));
        s.update("endpointslices", ns, "sc-d", (o) => {
          o.endpoints.push({
            addresses: ["10.2.0.3"],
            conditions: { ready: true },
            targetRef: { kind: "Pod", namespace: ns, name: "d-3" },
          });
        });
      }
      s.compact();
      release();
      const want =
        goneAs === "event"
          ? ["sc-d 10.2.0.2:8080 gray up"]
          : ["sc-d 10.2.0.2:8080 gray up", "sc-d 10.2.0.3:8080 base up"];
      const got = await r.until(
        (e) => brief(e).join() === want.join(),
        `the re-listed state (${goneAs})`,
        8_000,
      );
      assert.deepEqual(brief(got), want);
      assert.equal(lists(), listsBefore + 2, `both informers re-listed after the 410 (${goneAs})`);
      await until(() => s.openWatches() === 2, `both watches open after the 410 (${goneAs})`);
    }
    assert.equal(r.errors.length, 0, "a 410 is routine, not an error");
    assert.ok(
      r.sets.every((set) => set.length > 0),
      "never an empty set",
    );
  });

  test("API server down: one UNAVAILABLE per outage, the last set kept; back: changes arrive", async () => {
    const s = await server();
    const ns = "mall";
    onePod(s, ns, "sc-e", "e-1", "10.3.0.1", "sc-e");
    const r = run(s, { namespaces: [ns], port: null });
    await r.until((e) => e.length === 1, "the first emission");
    const emitted = r.sets.length;

    await s.stop();
    await until(() => r.errors.length >= 1, "onError after the server stopped");
    assert.equal(r.errors[0]?.code, "LANEMESH_DISCOVERY_UNAVAILABLE");
    assert.match(r.errors[0]?.message ?? "", new RegExp(`API server ${s.url}`));
    // Both informers keep retrying (with backoff) without reporting again.
    const restarts = "informer stopped; restarting";
    await until(() => r.logCount(restarts) >= 5, "several restarts during the outage");
    assert.equal(r.errors.length, 1, "one onError per outage");
    assert.equal(r.sets.length, emitted, "nothing emitted during the outage (no empty set)");

    // State moves on while the server is away; it comes back on the same port.
    s.apply(
      "pods",
      pod({ namespace: ns, name: "e-2", ip: "10.3.0.2", labels: { "lanemesh.io/tag": "gray" } }),
    );
    s.update("endpointslices", ns, "sc-e", (o) => {
      o.endpoints.push({
        addresses: ["10.3.0.2"],
        conditions: { ready: true },
        targetRef: { kind: "Pod", namespace: ns, name: "e-2" },
      });
    });
    await s.restart();
    // The two informers come back each on its own backoff: a slice may name e-2 before its pod
    // is seen, which shows e-2 down (lane unknown) for a moment, never as a healthy base.
    const want = ["sc-e 10.3.0.1:8080 base up", "sc-e 10.3.0.2:8080 gray up"];
    let got = await r.until(
      (e) => brief(e).join() === want.join(),
      "the state after the server came back",
      15_000,
    );
    assert.deepEqual(brief(got), want);
    assert.ok(
      r.sets.every((set) => !brief(set).includes("sc-e 10.3.0.2:8080 base up")),
      "the gray pod never showed as a healthy base instance",
    );
    await until(() => s.openWatches() === 2, "both watches open again");
    s.update("pods", ns, "e-2", (o) => {
      delete o.metadata.labels["lanemesh.io/tag"];
    });
    got = await r.until((e) => e.every((x) => x.tag === null), "a change after recovery", 5_000);
    assert.equal(r.errors.length, 1);

    // A second outage is a new outage: reported once more.
    await s.stop();
    await until(() => r.errors.length === 2, "onError for the second outage");
    assert.equal(r.errors[1]?.code, "LANEMESH_DISCOVERY_UNAVAILABLE");
    assert.ok(
      r.sets.every((set) => set.length > 0),
      "never an empty set",
    );
  });

  test("RBAC 403 on list → FORBIDDEN naming the resource and namespace; granted later → endpoints", async () => {
    const s = await server();
    const ns = "locked";
    onePod(s, ns, "sc-f", "f-1", "10.4.0.1", "sc-f");
    s.forbid("endpointslices", ns);
    const r = run(s, { namespaces: [ns], port: null });
    await until(() => r.errors.length >= 1, "onError for the 403");
    const err = r.errors[0] as ResolverError;
    assert.equal(err.code, "LANEMESH_DISCOVERY_FORBIDDEN");
    assert.match(
      err.message,
      /forbidden \(403\) to list\/watch endpointslices\.discovery\.k8s\.io in namespace "locked"/,
    );
    assert.match(
      err.message,
      /cannot list resource "endpointslices"/,
      "the API server's own message",
    );
    await until(() => r.logCount("informer stopped; restarting") >= 2, "retries while forbidden");
    assert.equal(r.errors.length, 1, "reported once while it lasts");
    assert.equal(r.sets.length, 0, "no emission before every informer has listed");

    s.allow("endpointslices", ns);
    const got = await r.until((e) => e.length === 1, "endpoints once access is granted", 10_000);
    assert.deepEqual(brief(got), ["sc-f 10.4.0.1:8080 base up"]);
  });
});

describe("end to end: a sidecar fed by the Kubernetes resolver", () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  test("a gray request lands on the gray pod, untagged on base; relabelled → fallback to base", async () => {
    const s = await FakeKubeApiServer.start();
    cleanups.push(() => s.close());
    const base = await TestUpstream.start("c-base");
    const gray = await TestUpstream.start("c-gray");
    cleanups.push(
      () => base.close(),
      () => gray.close(),
    );
    const ns = "mall";
    s.apply("pods", pod({ namespace: ns, name: "c-base", ip: "127.0.0.1" }));
    s.apply(
      "pods",
      pod({
        namespace: ns,
        name: "c-gray",
        ip: "127.0.0.1",
        labels: { "lanemesh.io/tag": "gray" },
      }),
    );
    // Both pods are on 127.0.0.1, so each gets its own slice (and port) of the one service sc-c.
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-c-1",
        service: "sc-c",
        ports: [{ name: "http", port: base.port }],
        endpoints: [{ address: "127.0.0.1", pod: "c-base" }],
      }),
    );
    s.apply(
      "endpointslices",
      endpointSlice({
        namespace: ns,
        name: "sc-c-2",
        service: "sc-c",
        ports: [{ name: "http", port: gray.port }],
        endpoints: [{ address: "127.0.0.1", pod: "c-gray" }],
      }),
    );

    const live = new LiveConfig({ gateway: "default", random: () => 0 });
    live.setRules(seedRules(), "1");
    const errors: ResolverError[] = [];
    const resolver = new KubernetesResolver(
      { namespaces: [ns], port: null },
      { kubeConfig: kubeConfig(s), log: pino({ level: "silent" }) },
    );
    resolver.start(
      (eps) => live.setEndpoints(eps),
      (e) => errors.push(e),
    );
    cleanups.push(() => resolver.close());
    const metrics = new ProxyMetrics();
    const sidecar: ProxyHandle = await loopbackSidecar({
      app: "sc-b",
      tag: null,
      appPort: 1,
      live,
      metrics,
    });
    const fallbacks = async () =>
      sample(await metrics.registry.metrics(), "lanemesh_fallback_total", {
        service: "sc-c",
        tag: "gray",
      });
    cleanups.push(() => sidecar.close());
    const outbound = sidecar.ports.outbound as number;

    await until(
      () => (live.current()?.endpoints.length ?? 0) === 2,
      "both sc-c endpoints in the LiveConfig",
    );
    const tagged = await send(outbound, { headers: { host: "sc-c", "x-lane-tag": "gray" } });
    assert.equal(tagged.status, 200);
    assert.equal(tagged.body, "c-gray");
    const untagged = await send(outbound, { headers: { host: "sc-c" } });
    assert.equal(untagged.body, "c-base");

    s.update("pods", ns, "c-gray", (o) => {
      delete o.metadata.labels["lanemesh.io/tag"];
    });
    await until(
      () => (live.current()?.endpoints ?? []).every((e) => e.tag === null),
      "the relabelled pod in the LiveConfig",
    );
    assert.equal(await fallbacks(), 0);
    const fallback = await send(outbound, { headers: { host: "sc-c", "x-lane-tag": "gray" } });
    assert.equal(fallback.status, 200);
    assert.equal(await fallbacks(), 1, "the gray request fell back to base");
    // The relabelled pod is base now: untagged requests reach both pods (round robin).
    const bodies = new Set<string>();
    for (let i = 0; i < 2; i++)
      bodies.add((await send(outbound, { headers: { host: "sc-c" } })).body);
    assert.deepEqual([...bodies].sort(), ["c-base", "c-gray"]);
    assert.deepEqual(errors, []);
  });
});

/** Run an ESM snippet in a child node from the repository root; resolves with its output. */
function child(
  script: string,
  env: Record<string, string> = {},
  // Long: loading the Kubernetes client took over 15 s at load 35 on a 2-core machine. A child
  // that exits by itself is not slowed by it; only a hung one waits this long to be killed.
  ms = 60_000,
): Promise<{ code: number | null; stdout: string; stderr: string; killed: boolean }> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ["--input-type=module", "-e", script], {
      cwd: REPO,
      env: { ...process.env, LANEMESH_LOG_LEVEL: "warn", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    c.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    c.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      c.kill("SIGKILL");
    }, ms);
    c.on("error", reject);
    c.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, killed });
    });
  });
}

describe("process hygiene", () => {
  test("importing the module does not load @kubernetes/client-node", async () => {
    // node-fetch (CommonJS) is loaded only by the client; CommonJS modules land in require.cache
    // even when imported from ESM. The second half proves the probe sees the client when loaded.
    const script = `
      import { createRequire } from "node:module";
      const require = createRequire(process.cwd() + "/");
      const loaded = () => Object.keys(require.cache).filter((k) => k.includes("/node_modules/node-fetch/")).length;
      const m = await import(${JSON.stringify(MODULE)});
      const r = new m.KubernetesResolver({ namespaces: ["x"], port: null });
      console.log("after-module", typeof m.KubernetesResolver, r.source, loaded());
      await import("@kubernetes/client-node");
      console.log("after-client", loaded());
    `;
    const out = await child(script);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.trim().split("\n");
    assert.equal(lines[0], "after-module function kubernetes?namespace=x 0");
    assert.match(lines[1] ?? "", /^after-client [1-9]\d*$/);
  });

  test("close() leaves nothing running: a child exits by itself, even with a watch request unanswered", async () => {
    const s = await FakeKubeApiServer.start();
    try {
      s.apply(
        "endpointslices",
        endpointSlice({
          namespace: "held",
          name: "sc-h",
          service: "sc-h",
          ports: [{ name: "http", port: 80 }],
          endpoints: [{ address: "10.5.0.1" }],
        }),
      );
      const release = s.holdWatches();
      // The child closes its resolver only once the server holds both of its watch requests
      // (the parent says so by creating the file GO): close() must then end them itself.
      const dir = mkdtempSync(join(tmpdir(), "lanemesh-kube-close-"));
      const go = join(dir, "go");
      const script = `
        const { existsSync } = await import("node:fs");
        const { KubeConfig } = await import("@kubernetes/client-node");
        const { KubernetesResolver } = await import(${JSON.stringify(MODULE)});
        const kc = new KubeConfig();
        kc.loadFromOptions(JSON.parse(process.env.KC));
        const r = new KubernetesResolver({ namespaces: ["held"], port: null }, { kubeConfig: kc });
        r.start((eps) => {
          console.log("emitted", eps.length);
          const wait = setInterval(() => {
            if (!existsSync(process.env.GO)) return;
            clearInterval(wait);
            r.close().then(() => console.log("closed"));
          }, 20);
        }, (e) => console.log("error", e.code));
      `;
      const running = child(script, { KC: JSON.stringify(s.kubeConfigOptions()), GO: go });
      const deadline = Date.now() + 60_000;
      while (s.requests.filter((q) => q.watch).length < 2 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      writeFileSync(go, "");
      const out = await running;
      release();
      rmSync(dir, { recursive: true, force: true });
      assert.equal(out.killed, false, "the child had to be killed: something kept it alive");
      assert.equal(out.code, 0, out.stderr);
      assert.equal(out.stdout, "emitted 1\nclosed\n");
      assert.equal(s.requests.filter((q) => q.watch).length, 2, "both watch requests were pending");
    } finally {
      await s.close();
    }
  });
});
