// Nacos discovery (discovery/nacos/) driven through the official `nacos` client against the fake Nacos server (helpers/nacos-server.ts), up to a sidecar routing a lane by it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { pino } from "pino";
import type { Endpoint } from "../../src/config/types.js";
import { nacosEndpoint } from "../../src/discovery/nacos/instances.js";
import { NacosResolver } from "../../src/discovery/nacos/resolver.js";
import { type NacosTarget, parseNacosUrl } from "../../src/discovery/nacos/target.js";
import type { ResolverError } from "../../src/discovery/types.js";
import { LiveConfig } from "../../src/live/live-config.js";
import { loopbackSidecar, seedRules } from "../helpers/mesh.js";
import { FakeNacos, type ServiceRef } from "../helpers/nacos-server.js";
import { send, TestUpstream } from "../helpers/upstream.js";

/*
 * How fast an update arrives: the client subscribes with its UDP port, so the server pushes each
 * change about `pushDelayMs` after it (500 ms here and in Nacos 2.x, 1 s in 1.x); the client's
 * own poll runs only every cacheMillis (10 s), and our sweep every refreshMs (60 s in the push
 * tests). A change seen within PUSH_DEADLINE_MS (< 10 s) therefore came by push; the server's
 * push-ack count confirms it.
 */
const PUSH_DEADLINE_MS = 6_000;
const FAST_REFRESH_MS = 200;
const NO_SWEEP_MS = 60_000;

const logLines: string[] = [];
const log = pino({ level: "debug" }, { write: (line: string) => void logLines.push(line) });

/** One line per endpoint, easy to compare. */
function brief(set: readonly Endpoint[]): string[] {
  return set
    .map(
      (e) =>
        `${e.service} ${e.address}:${e.port} ${e.tag ?? "base"} w${e.weight} ${e.healthy ? "up" : "down"}`,
    )
    .sort();
}

async function eventually(what: string, cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A started resolver and everything it reported. */
class Watch {
  readonly sets: Endpoint[][] = [];
  readonly errors: ResolverError[] = [];
  readonly resolver: NacosResolver;

  constructor(target: Partial<NacosTarget> & { serverAddr: string }, refreshMs = NO_SWEEP_MS) {
    this.resolver = new NacosResolver(
      { namespace: "", group: "DEFAULT_GROUP", services: null, register: false, ...target },
      { log, refreshMs },
    );
    this.resolver.start(
      (set) => this.sets.push(set),
      (err) => this.errors.push(err),
    );
  }

  get last(): string[] {
    return brief(this.sets.at(-1) ?? []);
  }

  async until(what: string, cond: (last: string[]) => boolean, ms = PUSH_DEADLINE_MS) {
    await eventually(what, () => this.sets.length > 0 && cond(this.last), ms);
    return this.last;
  }

  close(): Promise<void> {
    return this.resolver.close();
  }
}

/** Timers and UDP sockets alive in this process (unref'd timers excluded). */
function resources(): { timers: number; udp: number } {
  const all = process.getActiveResourcesInfo();
  return {
    timers: all.filter((r) => r === "Timeout").length,
    udp: all.filter((r) => r === "UDPWRAP").length,
  };
}

describe("parseNacosUrl", () => {
  it("reads every parameter and fills the defaults", () => {
    assert.deepEqual(
      parseNacosUrl(
        "nacos://127.0.0.1:8848?namespace=dev&group=MALL&services=sc-a,sc-b&register=false",
      ),
      {
        serverAddr: "127.0.0.1:8848",
        namespace: "dev",
        group: "MALL",
        services: ["sc-a", "sc-b"],
        register: false,
      },
    );
    assert.deepEqual(parseNacosUrl("nacos://nacos.local"), {
      serverAddr: "nacos.local:8848",
      namespace: "",
      group: "DEFAULT_GROUP",
      services: null,
      register: true,
    });
    assert.deepEqual(
      parseNacosUrl("nacos://[::1]:9000/?namespace=public&services=a,a&register=true"),
      {
        serverAddr: "[::1]:9000",
        namespace: "",
        group: "DEFAULT_GROUP",
        services: ["a"],
        register: true,
      },
    );
  });

  it("refuses each bad form with a message naming the defect", () => {
    const cases: [string, RegExp][] = [
      ["http://127.0.0.1:8848", /must start with nacos:\/\//],
      ["nacos://", /missing host/],
      ["nacos://:8848", /not a URL|missing host/],
      ["nacos://127.0.0.1:99999", /not a URL/],
      ["nacos://127.0.0.1:0", /port 0/],
      [
        "nacos://127.0.0.1:8848?namespce=dev",
        /unknown parameter "namespce" \(known: namespace, group, services, register\)/,
      ],
      ["nacos://127.0.0.1:8848?group=A&group=B", /parameter "group" given twice/],
      ["nacos://127.0.0.1:8848?group=", /group= is empty/],
      ["nacos://127.0.0.1:8848?services=", /services= needs comma-separated names/],
      ["nacos://127.0.0.1:8848?services=a,,b", /services= needs comma-separated names/],
      ["nacos://127.0.0.1:8848?services=G@@a", /"@@" is not allowed/],
      ["nacos://127.0.0.1:8848?register=yes", /register must be true or false, not "yes"/],
      ["nacos://127.0.0.1:8848/nacos", /unexpected path "\/nacos"/],
      ["nacos://u:p@127.0.0.1:8848", /credentials in the URL are not supported/],
    ];
    for (const [url, message] of cases) {
      const got = parseNacosUrl(url);
      assert.ok("error" in got, `${url} should be refused`);
      assert.match(got.error, message, url);
      assert.ok(got.error.includes(url), `the message quotes the URL: ${got.error}`);
    }
  });

  it("names what it reads in `source`", () => {
    const target = parseNacosUrl("nacos://127.0.0.1:8848?group=MALL&namespace=dev&register=false");
    assert.ok(!("error" in target));
    assert.equal(
      new NacosResolver(target, { log }).source,
      "nacos://127.0.0.1:8848?namespace=dev&group=MALL",
    );
  });
});

describe("NacosResolver against a fake Nacos, through the official client", () => {
  let server: FakeNacos;
  const consoleCalls: string[] = [];
  const saved = { ...console };

  before(async () => {
    // Whatever the client would print (sdk-base prints unhandled 'error' events) is caught here.
    for (const m of ["log", "info", "warn", "error", "debug"] as const) {
      console[m] = (...args: unknown[]) => void consoleCalls.push(`${m}: ${args.join(" ")}`);
    }
    server = await FakeNacos.start();
  });

  after(async () => {
    Object.assign(console, saved);
    await server.close();
  });

  const mall = (service: string, namespace = "dev"): ServiceRef => ({
    namespace,
    group: "MALL",
    service,
  });

  it("maps instances of two services of a group to endpoints: tags, weights, health", async () => {
    const a = mall("sc-a");
    server.putInstance(a, { ip: "10.0.0.1", port: 8080 });
    server.putInstance(a, {
      ip: "10.0.0.2",
      port: 8080,
      weight: 0.5,
      metadata: { "alicloud.service.tag": "gray", owner: "team-a" },
    });
    server.putInstance(a, {
      ip: "10.0.0.3",
      port: 8080,
      metadata: { "lanemesh.io/tag": "blue", "alicloud.service.tag": "gray" },
    });
    server.putInstance(a, {
      ip: "10.0.0.4",
      port: 8080,
      healthy: false,
      metadata: { "lanemesh.io/tag": "" },
    });
    server.putInstance(a, { ip: "10.0.0.5", port: 8080, enabled: false });
    server.putInstance(mall("sc-b"), {
      ip: "10.0.1.1",
      port: 9090,
      weight: 0,
      metadata: { "lanemesh.io/tag": "gray" },
    });
    server.putInstance(mall("sc-b"), { ip: "10.0.1.2", port: 9090, weight: 2.5 });
    // Same names in another group and another namespace: not ours.
    server.putInstance({ namespace: "dev", service: "sc-a" }, { ip: "10.9.9.9", port: 1 });
    server.putInstance(mall("sc-a", "prod"), { ip: "10.8.8.8", port: 1 });

    const w = new Watch({
      serverAddr: server.addr,
      namespace: "dev",
      group: "MALL",
      services: ["sc-a", "sc-b"],
    });
    assert.equal(w.sets.length + w.errors.length, 0, "nothing synchronously from start()");
    try {
      const set = await w.until("the first set", () => true);
      assert.deepEqual(set, [
        "sc-a 10.0.0.1:8080 base w100 up",
        "sc-a 10.0.0.2:8080 gray w50 up",
        "sc-a 10.0.0.3:8080 blue w100 up",
        "sc-a 10.0.0.4:8080 base w100 down",
        // 10.0.0.5 is disabled: Nacos leaves it out of the list, so it gets no traffic.
        "sc-b 10.0.1.1:9090 gray w0 up",
        "sc-b 10.0.1.2:9090 base w250 up",
      ]);
      assert.equal(w.sets.length, 1, "one first set, once both services answered");
      const gray = w.sets[0]?.find((e) => e.address === "10.0.0.2");
      assert.deepEqual(gray?.metadata, { "alicloud.service.tag": "gray", owner: "team-a" });
      assert.deepEqual(w.errors, []);
      assert.ok(
        server.requests.includes("GET /nacos/v1/ns/instance/list"),
        "the client asked the list endpoint",
      );
    } finally {
      await w.close();
    }
  });

  it("maps enabled=false to unhealthy when a server does list it", () => {
    const e = nacosEndpoint("sc-a", {
      ip: "10.0.0.7",
      port: 80,
      weight: 1,
      healthy: true,
      enabled: false,
      serviceName: "MALL@@sc-a",
      metadata: { "alicloud.service.tag": "Base" },
    });
    assert.deepEqual(e, {
      service: "sc-a",
      address: "10.0.0.7",
      port: 80,
      tag: null,
      weight: 100,
      healthy: false,
      metadata: { "alicloud.service.tag": "Base" },
    });
    assert.equal(nacosEndpoint("sc-a", { ip: "", port: 80 }), null);
  });

  it("delivers changes by UDP push, well before the client's 10 s poll", async () => {
    const a = mall("sc-a");
    const w = new Watch({
      serverAddr: server.addr,
      namespace: "dev",
      group: "MALL",
      services: ["sc-a", "sc-b"],
    });
    try {
      await w.until("the first set", (s) => s.length === 6);
      const took: number[] = [];
      // Each change is awaited in the set AND as a push the client acknowledged, so that a poll
      // that happens to fall in between cannot merge two changes into one push.
      const step = async (what: string, change: () => void, cond: (s: string[]) => boolean) => {
        const acks = server.pushAcks;
        const t0 = Date.now();
        change();
        await w.until(what, cond);
        took.push(Date.now() - t0);
        await eventually(
          `the push of ${what} to be acknowledged`,
          () => server.pushAcks > acks,
          PUSH_DEADLINE_MS,
        );
      };
      await step(
        "the new canary",
        () =>
          server.putInstance(a, {
            ip: "10.0.0.9",
            port: 8080,
            metadata: { "lanemesh.io/tag": "gray" },
          }),
        (s) => s.includes("sc-a 10.0.0.9:8080 gray w100 up"),
      );
      await step(
        "a deregistered instance to leave",
        () => server.removeInstance(a, "10.0.0.1", 8080),
        (s) => !s.some((l) => l.includes("10.0.0.1:")),
      );
      await step(
        "a disabled instance to leave",
        () => server.updateInstance(a, "10.0.0.2", 8080, { enabled: false }),
        (s) => !s.some((l) => l.includes("10.0.0.2:")),
      );
      await step(
        "the new weight",
        () => server.updateInstance(mall("sc-b"), "10.0.1.2", 9090, { weight: 3 }),
        (s) => s.includes("sc-b 10.0.1.2:9090 base w300 up"),
      );
      assert.ok(Math.max(...took) < PUSH_DEADLINE_MS, `latencies ${took.join(", ")} ms`);
      assert.deepEqual(w.errors, []);
    } finally {
      await w.close();
    }
  });

  it("registers the sidecar's own instance with its tag and heartbeats; close() deregisters it", async () => {
    const ref: ServiceRef = { namespace: "reg", service: "sc-a" };
    const target = (register: boolean): NacosTarget => ({
      serverAddr: server.addr,
      namespace: "reg",
      group: "DEFAULT_GROUP",
      services: ["sc-a"],
      register,
    });
    server.putInstance(ref, { ip: "10.1.0.1", port: 80 });
    await eventually("the fake server to be idle", () => server.pendingPushes === 0, 3_000);
    const baseline = resources();
    const other = new Watch({ serverAddr: server.addr, namespace: "reg", services: ["sc-a"] });
    const self = new NacosResolver(target(true), { log });
    try {
      await other.until("the first set", (s) => s.length === 1);
      const noRegister = new NacosResolver(target(false), { log });
      await noRegister.register({ service: "sc-a", address: "127.0.0.1", port: 18081, tag: null });
      await noRegister.close();
      assert.equal(server.instances(ref).length, 1, "register=false registers nothing");

      await self.register({ service: "sc-a", address: "127.0.0.1", port: 18080, tag: "gray" });
      await other.until("the registered instance", (s) =>
        s.includes("sc-a 127.0.0.1:18080 gray w100 up"),
      );
      const stored = server.instances(ref).find((i) => i.port === 18080);
      assert.equal(stored?.ephemeral, true);
      assert.deepEqual(stored?.metadata, { "lanemesh.io/tag": "gray" });
      // Ephemeral instances live on heartbeats: the first one comes 5 s after registering.
      await eventually("a heartbeat", () => server.beatsFrom("127.0.0.1", 18080) >= 1, 10_000);

      await self.close();
      assert.equal(server.instances(ref).filter((i) => i.port === 18080).length, 0);
      await other.until("the instance to leave", (s) => !s.some((l) => l.includes(":18080")));
    } finally {
      await self.close();
      await other.close();
    }
    // Nothing of the closed clients is left running: no timer (the client's stock beat loop
    // would hold a 5-10 s sleep), no UDP push socket.
    await eventually(
      "every timer and UDP socket of the closed clients to go",
      () => {
        const now = resources();
        return (
          server.pendingPushes === 0 && now.timers === baseline.timers && now.udp === baseline.udp
        );
      },
      3_000,
    );
  });

  it("keeps the last set through an outage, reports it once, and recovers by itself", async () => {
    const ref: ServiceRef = { namespace: "outage", service: "sc-a" };
    server.putInstance(ref, { ip: "10.2.0.1", port: 80 });
    server.putInstance(ref, { ip: "10.2.0.2", port: 80, metadata: { "lanemesh.io/tag": "gray" } });
    const w = new Watch(
      { serverAddr: server.addr, namespace: "outage", services: ["sc-a"] },
      FAST_REFRESH_MS,
    );
    try {
      const before = await w.until("the first set", (s) => s.length === 2);
      const emitted = w.sets.length;
      await server.stop();
      await eventually("the outage to be reported", () => w.errors.length >= 1, 5_000);
      assert.equal(w.errors[0]?.code, "LANEMESH_DISCOVERY_UNAVAILABLE");
      assert.match(w.errors[0]?.message ?? "", /unreachable/);
      // Several sweeps fail meanwhile (every 200 ms): still one report, no new set.
      await new Promise((r) => setTimeout(r, 6 * FAST_REFRESH_MS));
      assert.equal(w.errors.length, 1, "once per outage, not per retry");
      assert.equal(w.sets.length, emitted, "nothing emitted while Nacos is away");
      assert.ok(
        w.sets.every((s) => s.length > 0),
        "never an empty set",
      );

      server.putInstance(ref, { ip: "10.2.0.3", port: 80 }); // changed while it was down
      await server.restart();
      const back = await w.until("the set after the restart", (s) => s.length === 3);
      assert.deepEqual(back, [...before, "sc-a 10.2.0.3:80 base w100 up"].sort());
      server.removeInstance(ref, "10.2.0.1", 80);
      await w.until(
        "a later change",
        (s) => s.length === 2 && !s.some((l) => l.includes("10.2.0.1:")),
      );

      await server.stop();
      await eventually("a second outage to be reported", () => w.errors.length === 2, 5_000);
      await server.restart();
      const emittedBefore = w.sets.length;
      await eventually(
        "the set re-emitted after recovery",
        () => w.sets.length > emittedBefore,
        5_000,
      );
      assert.equal(w.errors.length, 2);
    } finally {
      if (!server.running) await server.restart();
      await w.close();
    }
  });

  it("starts while Nacos is down: reports it once, then everything arrives when it comes up", async () => {
    const late = await FakeNacos.start();
    await late.stop(); // its port is now closed; restart() reopens the same one
    const ref: ServiceRef = { service: "sc-a" };
    late.putInstance(ref, { ip: "10.4.0.1", port: 80 });
    const w = new Watch(
      { serverAddr: late.addr, services: ["sc-a"], register: true },
      FAST_REFRESH_MS,
    );
    try {
      await eventually("the outage to be reported", () => w.errors.length === 1, 5_000);
      assert.equal(w.errors[0]?.code, "LANEMESH_DISCOVERY_UNAVAILABLE");
      await assert.rejects(
        w.resolver.register({ service: "sc-a", address: "127.0.0.1", port: 18090, tag: "gray" }),
        (err: Error & { code?: string }) =>
          err.code === "LANEMESH_DISCOVERY_UNAVAILABLE" &&
          /heartbeats will register it/.test(err.message),
      );
      assert.equal(w.sets.length, 0, "no set before Nacos answered");
      await late.restart();
      await w.until("the first set", (s) => s.includes("sc-a 10.4.0.1:80 base w100 up"), 5_000);
      // The registration failed, but the next heartbeat (every 5 s) re-creates the instance.
      await w.until(
        "the heartbeat-registered instance",
        (s) => s.includes("sc-a 127.0.0.1:18090 gray w100 up"),
        10_000,
      );
      assert.equal(w.errors.length, 1);
    } finally {
      await w.close();
      await late.close();
    }
    assert.equal(late.instances(ref).length, 1, "close() deregistered it");
  });

  it("without services=, follows services added to the namespace later and drops removed ones", async () => {
    const ref = (service: string): ServiceRef => ({ namespace: "all", group: "MALL", service });
    server.putInstance(ref("sc-a"), { ip: "10.3.0.1", port: 80 });
    server.putInstance(ref("sc-b"), { ip: "10.3.0.2", port: 80 });
    const empty = new Watch({ serverAddr: server.addr, namespace: "void" }, FAST_REFRESH_MS);
    const w = new Watch(
      { serverAddr: server.addr, namespace: "all", group: "MALL" },
      FAST_REFRESH_MS,
    );
    try {
      assert.equal(w.resolver.source, `nacos://${server.addr}?namespace=all&group=MALL`);
      await w.until("both services", (s) => s.length === 2);
      server.putInstance(ref("sc-new"), {
        ip: "10.3.0.3",
        port: 80,
        metadata: { "lanemesh.io/tag": "gray" },
      });
      await w.until("the new service", (s) => s.includes("sc-new 10.3.0.3:80 gray w100 up"));
      server.removeService(ref("sc-b"));
      await w.until("the removed service to leave", (s) => !s.some((l) => l.startsWith("sc-b ")));
      // The client never reports an empty list; the sweep does.
      server.removeInstance(ref("sc-a"), "10.3.0.1", 80);
      const left = await w.until(
        "the emptied service to leave",
        (s) => !s.some((l) => l.startsWith("sc-a ")),
      );
      assert.deepEqual(left, ["sc-new 10.3.0.3:80 gray w100 up"]);
      // Everything gone at once looks like a registry restart: the last set is held.
      const emitted = w.sets.length;
      server.removeInstance(ref("sc-new"), "10.3.0.3", 80);
      await new Promise((r) => setTimeout(r, 6 * FAST_REFRESH_MS));
      assert.equal(w.sets.length, emitted);
      assert.deepEqual(w.last, left);
      // An empty namespace is an answer, not an outage: its first set is empty.
      await eventually("the empty namespace's first set", () => empty.sets.length === 1, 5_000);
      assert.deepEqual(empty.sets[0], []);
      assert.deepEqual([...w.errors, ...empty.errors], []);
    } finally {
      await w.close();
      await empty.close();
    }
  });

  it("feeds a sidecar: the gray request lands on the gray instance, then on base once it leaves", async () => {
    const base = await TestUpstream.start("C");
    const gray = await TestUpstream.start("Cgray");
    const ref: ServiceRef = { namespace: "e2e", service: "sc-c" };
    server.putInstance(ref, { ip: "127.0.0.1", port: base.port });
    server.putInstance(ref, {
      ip: "127.0.0.1",
      port: gray.port,
      metadata: { "lanemesh.io/tag": "gray" },
    });
    const live = new LiveConfig({ gateway: "default" });
    live.setRules(seedRules(), "1");
    const resolver = new NacosResolver(
      {
        serverAddr: server.addr,
        namespace: "e2e",
        group: "DEFAULT_GROUP",
        services: ["sc-c"],
        register: false,
      },
      { log, refreshMs: NO_SWEEP_MS },
    );
    resolver.start(
      (set) => live.setEndpoints(set),
      () => {},
    );
    const sidecar = await loopbackSidecar({ app: "sc-a", tag: null, appPort: base.port, live });
    const outbound = sidecar.ports.outbound as number;
    const call = (headers: Record<string, string>) =>
      send(outbound, { headers: { host: "sc-c", ...headers } });
    try {
      await eventually(
        "both sc-c instances in the live config",
        () => live.current()?.endpoints.length === 2,
        PUSH_DEADLINE_MS,
      );
      const tagged = await call({ "x-lane-tag": "gray" });
      assert.equal(tagged.status, 200);
      assert.equal(tagged.body, "Cgray");
      const untagged = await call({});
      assert.equal(untagged.body, "C");

      server.removeInstance(ref, "127.0.0.1", gray.port);
      await eventually(
        "the gray instance to leave",
        () => live.current()?.endpoints.length === 1,
        PUSH_DEADLINE_MS,
      );
      const fallback = await call({ "x-lane-tag": "gray" });
      assert.equal(fallback.status, 200);
      assert.equal(fallback.body, "C", "no gray sc-c any more: base");
    } finally {
      await sidecar.close();
      await resolver.close();
      await base.close();
      await gray.close();
    }
  });

  it("sends the client's logs to our logger, never to the console", () => {
    assert.deepEqual(consoleCalls, []);
    const client = logLines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.msg.startsWith("nacos client:"));
    assert.ok(client.length > 0, "the client logged through pino");
    assert.ok(
      client.every((l) => l.level === 20),
      "at debug level",
    );
  });
});
