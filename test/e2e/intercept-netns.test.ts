// Transparent interception end to end: the seed's pods as network namespaces on a bridge, `lanemesh iptables` in each, apps calling `http://sc-b:8080/` with no proxy setting, sidecars as the proxy UID; the chains, the sidecars' metrics and a raw TCP echo byte for byte.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { netnsSkipReason, type Pod, Pods, SUBNET, unreadableByOthers } from "../helpers/netns.js";
import { APP_KEYS, APPS, type AppKey, REPO, sumMetric } from "../helpers/procs.js";

/*
 * Pods (one namespace each, 10.254.0.0/24 on a bridge in a namespace of its own):
 *   gw .2: the gateway (no interception) and the test's HTTP client
 *   a .11, ag .12, b .13, c .14, cg .15: demo app (uid 65534) on 0.0.0.0:8080 + sidecar (uid
 *     1337, --intercept) + `lanemesh iptables`; hosts: sc-a → a, sc-b → b, sc-c → c (base C:
 *     only the sidecar can send a gray request to C gray), echo → echo
 *   echo .20: a raw TCP echo server on 5432 (an opaque port) and 7777 (sniffed), no sidecar
 * Instances are registered at POD_IP:8080, the app port: every hop enters a pod through the
 * inbound redirect (original port 8080), as with Kubernetes EndpointSlices.
 */

const PROXY_UID = 1337;
const APP_UID = 65534;
const HOSTS: Record<AppKey | "gw" | "echo", number> = {
  gw: 2,
  a: 11,
  ag: 12,
  b: 13,
  c: 14,
  cg: 15,
  echo: 20,
};
const ip = (k: keyof typeof HOSTS) => `${SUBNET}.${HOSTS[k]}`;
const SERVICE_HOSTS = { "sc-a": ip("a"), "sc-b": ip("b"), "sc-c": ip("c"), echo: ip("echo") };
const ECHO_SNIFFED = 7777;
const ECHO_OPAQUE = 5432;

function endpointsYaml(): string {
  return APP_KEYS.map((k) => {
    const a = APPS[k];
    return `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: ${k} }
spec: { service: ${a.service}, address: ${ip(k)}, port: 8080${a.tag ? `, tag: ${a.tag}` : ""} }
`;
  }).join("---\n");
}

/** `app.next` is `http://sc-b/`: the intercepted app calls the plain port 8080 instead. */
const nextUrl = (k: AppKey) => APPS[k].next?.replace(/\/$/, ":8080/") ?? null;

const skip = netnsSkipReason();

describe("transparent interception across network namespaces", {
  skip: skip ?? false,
  timeout: 300_000,
}, () => {
  let pods: Pods;
  let dir: string;
  const pod = {} as Record<AppKey | "gw" | "echo", Pod>;

  /** Metrics text of every sidecar and the gateway, read from the gateway's pod. */
  async function metrics(): Promise<Record<AppKey | "gw", string>> {
    const urls = [
      "http://127.0.0.1:15000/metrics",
      ...APP_KEYS.map((k) => `http://${ip(k)}:15000/metrics`),
    ];
    const r = await pods.tool(pod.gw, ["http-get-each", ...urls]);
    assert.equal(r.code, 0, r.stderr);
    const bodies = r.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { status: number; body: string }).body);
    return Object.fromEntries(
      (["gw", ...APP_KEYS] as const).map((k, i) => [k, bodies[i] ?? ""]),
    ) as Record<AppKey | "gw", string>;
  }

  /** GETs through the gateway, from the gateway's pod. */
  async function viaGateway(count: number, headers: string[] = []) {
    const r = await pods.tool(pod.gw, [
      "http-get",
      String(count),
      "http://127.0.0.1:8080/a",
      ...headers,
    ]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout
      .toString()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { status: number; body: string });
  }

  before(async () => {
    const unreadable = unreadableByOthers();
    assert.equal(unreadable, null, `the apps and sidecars run as other users: ${unreadable}`);
    pods = new Pods();
    dir = mkdtempSync(join(tmpdir(), "lanemesh-netns-"));
    chmodSync(dir, 0o755);
    const endpoints = join(dir, "endpoints.yaml");
    writeFileSync(endpoints, endpointsYaml(), { mode: 0o644 });
    const rules = join(REPO, "test/fixtures/seed-content.yaml");
    const sources = [
      "--rules",
      rules,
      "--discovery",
      `static:${endpoints}`,
      "--drain-seconds",
      "1",
    ];

    for (const k of Object.keys(HOSTS) as (keyof typeof HOSTS)[]) {
      pod[k] = pods.add(k, HOSTS[k], k === "gw" || k === "echo" ? {} : SERVICE_HOSTS);
    }
    for (const k of APP_KEYS) {
      // Applied twice in pod a: the second run must leave one set of rules.
      for (let i = 0; i < (k === "a" ? 2 : 1); i++) {
        const r = await pods.cli(pod[k], ["iptables"]);
        assert.equal(r.code, 0, `iptables in ${k}: ${r.stderr}`);
      }
    }
    pods.start(pod.gw, "gateway", ["gateway", "--port", "8080", ...sources], APP_UID);
    for (const k of APP_KEYS) {
      const a = APPS[k];
      const tag = a.tag ? ["--tag", a.tag] : [];
      pods.start(
        pod[k],
        `sidecar ${k}`,
        ["sidecar", "--app", a.service, ...tag, "--app-port", "8080", "--intercept", ...sources],
        PROXY_UID,
      );
      const next = nextUrl(k);
      pods.start(
        pod[k],
        `app ${k}`,
        [
          "demo-app",
          "--name",
          a.name,
          ...tag,
          "--host",
          "0.0.0.0",
          "--port",
          "8080",
          "--proxy",
          "none",
          ...(next ? ["--next", next] : []),
          ...(a.configLabel ? ["--config-label", a.configLabel] : []),
        ],
        APP_UID,
      );
    }
    await pods.startTool(
      pod.echo,
      ["echo-server", String(ECHO_OPAQUE), String(ECHO_SNIFFED)],
      APP_UID,
    );
    // Ready: every admin port, then every app through its sidecar's inbound side (A and B only
    // answer 200 once the hops below them do).
    const ready = await pods.tool(
      pod.gw,
      [
        "wait-http",
        "90000",
        "http://127.0.0.1:15000/ready",
        ...APP_KEYS.map((k) => `http://${ip(k)}:15000/ready`),
        ...[...APP_KEYS].reverse().map((k) => `http://${ip(k)}:8080/`),
      ],
      { timeoutMs: 120_000 },
    );
    assert.equal(ready.code, 0, `${ready.stderr}\n${pods.procs.dump()}`);
  });

  after(async () => {
    await pods?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("the seed's base and gray chains pass across the pods, every hop through the sidecars", async () => {
    const was = await metrics();
    const base = await viaGateway(3);
    const gray = await viaGateway(3, ["canary: gray"]);
    const addr = "\\[[0-9.]+:\\d+\\]";
    for (const r of base) {
      assert.equal(r.status, 200, r.body);
      assert.match(
        r.body.trim(),
        new RegExp(`^A${addr}\\[config=base\\] -> B${addr} -> C${addr}$`),
      );
    }
    for (const r of gray) {
      assert.equal(r.status, 200, r.body);
      assert.match(
        r.body.trim(),
        new RegExp(`^Agray${addr}\\[config=base\\] -> B${addr} -> Cgray${addr}$`),
      );
    }
    const now = await metrics();
    const delta = (k: AppKey | "gw", labels: Record<string, string>) =>
      sumMetric(now[k], "lanemesh_requests_total", { code: "200", ...labels }) -
      sumMetric(was[k], "lanemesh_requests_total", { code: "200", ...labels });
    const inbound = (k: AppKey, service: string) => delta(k, { direction: "inbound", service });
    const outbound = (k: AppKey, service: string, tag?: string) =>
      delta(k, { direction: "outbound", service, ...(tag ? { tag } : {}) });
    const seen = {
      gateway: delta("gw", { direction: "gateway", service: "sc-a" }),
      a: [inbound("a", "sc-a"), outbound("a", "sc-b")],
      ag: [inbound("ag", "sc-a"), outbound("ag", "sc-b")],
      b: [inbound("b", "sc-b"), outbound("b", "sc-c", "base"), outbound("b", "sc-c", "gray")],
      c: [inbound("c", "sc-c"), outbound("c", "sc-c")],
      cg: [inbound("cg", "sc-c"), outbound("cg", "sc-c")],
    };
    assert.deepEqual(seen, {
      gateway: 6,
      a: [3, 3],
      ag: [3, 3],
      b: [6, 3, 3],
      c: [3, 0],
      cg: [3, 0],
    });
    // The apps' calls reached the outbound side by redirection (no proxy setting), and the
    // callers' sidecars reached the next pods through their inbound redirect.
    const intercepted = (k: AppKey, direction: string, path: string) =>
      sumMetric(now[k], "lanemesh_intercepted_connections_total", { direction, path });
    for (const k of ["a", "ag", "b"] as const) {
      assert.ok(intercepted(k, "outbound", "http") >= 1, `${k}: outbound connections redirected`);
      assert.equal(intercepted(k, "outbound", "direct"), 0, `${k}: no app used the proxy port`);
    }
    for (const k of APP_KEYS) {
      assert.ok(intercepted(k, "inbound", "http") >= 1, `${k}: inbound connections redirected`);
    }
  });

  for (const [what, port] of [
    ["a sniffed port", ECHO_SNIFFED],
    ["an opaque port (Postgres's)", ECHO_OPAQUE],
  ] as const) {
    it(`a raw TCP echo in another pod answers an intercepted client byte for byte (${what})`, async () => {
      const tcpBefore = sumMetric((await metrics()).a, "lanemesh_intercepted_connections_total", {
        direction: "outbound",
        path: "tcp",
      });
      // Starts like a Postgres startup message, then random bytes.
      const data = Buffer.concat([Buffer.from("0000000804d2162f", "hex"), randomBytes(64 * 1024)]);
      const r = await pods.tool(pod.a, ["tcp-client", "echo", String(port)], {
        uid: APP_UID,
        input: data,
      });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.length, data.length * 2);
      assert.ok(r.stdout.subarray(0, data.length).equals(data), "echoed as sent");
      assert.ok(
        r.stdout.subarray(data.length).equals(Buffer.from(data).reverse()),
        "after the FIN",
      );
      const tcpAfter = sumMetric((await metrics()).a, "lanemesh_intercepted_connections_total", {
        direction: "outbound",
        path: "tcp",
      });
      assert.equal(tcpAfter, tcpBefore + 1, "the connection went through A's sidecar");
    });
  }

  it("applying the rules twice left one set of them", async () => {
    const r = await pods.exec(pod.a, ["iptables-save", "-t", "nat"]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.toString().split("\n");
    assert.deepEqual(
      lines.filter(
        (l) => /-j LANEMESH_(INBOUND|OUTPUT)$/.test(l) && /^-A (PREROUTING|OUTPUT) /.test(l),
      ),
      ["-A PREROUTING -p tcp -j LANEMESH_INBOUND", "-A OUTPUT -p tcp -j LANEMESH_OUTPUT"],
    );
    assert.equal(lines.filter((l) => l.startsWith(":LANEMESH_")).length, 4);
    assert.equal(lines.filter((l) => l.includes("REDIRECT --to-ports 15001")).length, 1);
  });

  it("--clean removes the rules (IPv4 and IPv6), and is harmless when they are gone", async () => {
    const nat = async (save: string) =>
      (await pods.exec(pod.echo, [save, "-t", "nat"])).stdout.toString();
    const applied = await pods.cli(pod.echo, ["iptables", "--ipv6"]);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(await nat("iptables-save"), /-A OUTPUT -p tcp -j LANEMESH_OUTPUT/);
    assert.match(await nat("ip6tables-save"), /-A LANEMESH_OUTPUT -d ::1\/128 -j RETURN/);
    const first = await pods.cli(pod.echo, ["iptables", "--clean", "--ipv6"]);
    assert.equal(first.code, 0, first.stderr);
    assert.doesNotMatch(await nat("iptables-save"), /LANEMESH/);
    assert.doesNotMatch(await nat("ip6tables-save"), /LANEMESH/);
    const again = await pods.cli(pod.echo, ["iptables", "--clean", "--ipv6"]);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(
      again.stdout.toString(),
      "# iptables: no lanemesh rules to remove\n# ip6tables: no lanemesh rules to remove\n",
    );
  });
});
