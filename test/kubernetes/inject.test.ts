// `lanemesh inject` golden tests: real-looking manifests in, expected manifests out (native and legacy), a second pass changes nothing, opt-out, exclusions, refusals; UPDATE_GOLDEN=1 rewrites the goldens.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import {
  INIT_CONTAINER,
  type InjectOptions,
  injectPod,
  PROXY_CONTAINER,
  PROXY_NODE_OPTIONS,
  planInjection,
} from "../../src/kubernetes/inject.js";
import { injectYaml } from "../../src/kubernetes/inject-files.js";
import { DEFAULT_IMAGE, VERSION } from "../../src/kubernetes/names.js";
import { CLI, REPO, runCli } from "../helpers/procs.js";

const DIR = join(REPO, "test/fixtures/kubernetes");
/** Fixed so the goldens do not change with the package version. */
export const GOLDEN_OPTIONS: InjectOptions = {
  image: "ghcr.io/lanemesh/lanemesh:0.0.0-test",
  controlPlaneNamespace: "lanemesh-system",
  legacy: false,
  version: "0.0.0-test",
};

function golden(name: string, actual: string): void {
  const file = join(DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(file, actual);
  assert.equal(actual, readFileSync(file, "utf8"), `${name} differs (UPDATE_GOLDEN=1 rewrites it)`);
}

// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes objects
type Json = Record<string, any>;
const docs = (text: string): Json[] =>
  parseAllDocuments(text as string).map((d: { toJS(): unknown }) => d.toJS() as Json);

describe("lanemesh inject", () => {
  for (const name of ["deployment", "statefulset", "cronjob", "list", "pod"]) {
    it(`${name}.yaml gives ${name}.golden.yaml, and injecting that again changes nothing`, () => {
      const input = readFileSync(join(DIR, `${name}.yaml`), "utf8");
      const once = injectYaml(input, GOLDEN_OPTIONS);
      golden(`${name}.golden.yaml`, once.text);
      const twice = injectYaml(once.text, GOLDEN_OPTIONS);
      assert.equal(twice.text, once.text);
      assert.ok(twice.results.every((r) => !r.injected));
    });
  }

  it("legacy mode: the proxy is the last plain container, only the interception is an init container", () => {
    const input = readFileSync(join(DIR, "deployment.yaml"), "utf8");
    const out = injectYaml(input, { ...GOLDEN_OPTIONS, legacy: true });
    golden("deployment.legacy.golden.yaml", out.text);
    const spec = docs(out.text)[0]?.spec.template.spec;
    assert.deepEqual(
      spec.initContainers.map((c: Json) => c.name),
      [INIT_CONTAINER, "migrate"],
    );
    assert.deepEqual(
      spec.containers.map((c: Json) => c.name),
      ["cart", PROXY_CONTAINER],
    );
    assert.equal(spec.containers[1].restartPolicy, undefined);
    assert.equal(injectYaml(out.text, { ...GOLDEN_OPTIONS, legacy: true }).text, out.text);
  });

  it("comments, unrelated fields and other documents survive", () => {
    const input = readFileSync(join(DIR, "deployment.yaml"), "utf8");
    const out = injectYaml(input, GOLDEN_OPTIONS).text;
    for (const comment of [
      "# A shop's cart service",
      "# MSE's tag label: this is the gray cart",
      "# postgres and redis bypass the proxy",
      "# runs after the sidecar is up",
    ])
      assert.ok(out.includes(comment), comment);
    const [before, after] = [docs(input), docs(out)];
    assert.deepEqual(after[1], before[1], "the Service is untouched");
    const b = before[0]?.spec.template;
    const a = after[0]?.spec.template;
    assert.deepEqual(a.spec.containers, b.spec.containers, "app containers untouched");
    assert.deepEqual(a.metadata.labels, b.metadata.labels);
    assert.equal(a.spec.serviceAccountName, "cart");
    assert.deepEqual(a.spec.volumes[0], b.spec.volumes[0]);
  });

  it("what the sidecar gets: app, tag, port, control plane, downward API, token, probes, security", () => {
    const out = docs(
      injectYaml(readFileSync(join(DIR, "deployment.yaml"), "utf8"), GOLDEN_OPTIONS).text,
    );
    const spec = out[0]?.spec.template.spec;
    const [init, proxy] = spec.initContainers;
    const env = Object.fromEntries(
      proxy.env.map((e: Json) => [e.name, e.value ?? `field:${e.valueFrom.fieldRef.fieldPath}`]),
    );
    assert.deepEqual(env, {
      LANEMESH_APP: "cart",
      LANEMESH_TAG: "gray",
      LANEMESH_APP_PORT: "8080",
      LANEMESH_CONTROL_PLANE: "lanemesh-control-plane.lanemesh-system.svc:15010",
      LANEMESH_INTERCEPT: "true",
      LANEMESH_ADVERTISE_HOST: "field:status.podIP",
      LANEMESH_STATE_DIR: "/var/run/lanemesh/state",
      LANEMESH_TOKEN_FILE: "/var/run/secrets/lanemesh/token",
      POD_NAME: "field:metadata.name",
      POD_NAMESPACE: "field:metadata.namespace",
      POD_IP: "field:status.podIP",
      NODE_OPTIONS: PROXY_NODE_OPTIONS,
    });
    assert.equal(proxy.restartPolicy, "Always");
    assert.deepEqual(proxy.args, ["sidecar"]);
    assert.equal(proxy.securityContext.runAsUser, 1337);
    assert.equal(proxy.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(proxy.securityContext.capabilities, { drop: ["ALL"] });
    assert.equal(proxy.readinessProbe.httpGet.path, "/ready");
    assert.equal(proxy.startupProbe.httpGet.port, 15000);
    assert.equal(proxy.livenessProbe.httpGet.path, "/healthz");
    assert.ok(proxy.resources.requests.cpu && proxy.resources.limits.memory);
    const token = spec.volumes.find((v: Json) => v.name === "lanemesh-token");
    assert.deepEqual(token.projected.sources[0].serviceAccountToken, {
      audience: "lanemesh",
      expirationSeconds: 3600,
      path: "token",
    });
    assert.deepEqual(
      proxy.volumeMounts.find((m: Json) => m.name === "lanemesh-token"),
      { name: "lanemesh-token", mountPath: "/var/run/secrets/lanemesh", readOnly: true },
    );
    assert.deepEqual(init.args, [
      "iptables",
      "--proxy-uid",
      "1337",
      "--inbound-port",
      "15006",
      "--outbound-port",
      "15001",
      "--exclude-outbound-ports",
      "5432,6379",
      "--exclude-outbound-cidrs",
      "10.96.0.0/12",
    ]);
    assert.deepEqual(init.securityContext.capabilities.add, ["NET_ADMIN", "NET_RAW"]);
    assert.equal(init.securityContext.runAsUser, 0);
    assert.equal(init.securityContext.runAsNonRoot, false);
    assert.equal(out[0]?.spec.template.metadata.annotations["lanemesh.io/injected"], "0.0.0-test");
  });

  it("the sidecar's NODE_OPTIONS: Node takes them from the environment and caps the young generation at 2 MB semi-spaces", () => {
    // A flag Node refuses in NODE_OPTIONS would stop every injected sidecar from starting.
    const script = `const keep = [];
for (let i = 0; i < 200000; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 5000) keep.length = 0; }
const s = require("node:v8").getHeapSpaceStatistics().find((x) => x.space_name === "new_space");
process.stdout.write(String(s.space_size));`;
    const run = (env: Record<string, string>) =>
      spawnSync(process.execPath, ["-e", script], {
        env: { ...process.env, ...env },
        encoding: "utf8",
      });
    const capped = run({ NODE_OPTIONS: PROXY_NODE_OPTIONS });
    assert.equal(capped.status, 0, capped.stderr);
    assert.equal(PROXY_NODE_OPTIONS, "--max-semi-space-size=2");
    assert.ok(Number(capped.stdout) <= 4 * 2 ** 20, `new space ${capped.stdout} bytes`);
    // The same script grows the young generation past that when allowed to.
    const wide = run({ NODE_OPTIONS: "--max-semi-space-size=16" });
    assert.ok(Number(wide.stdout) > 4 * 2 ** 20, `with 16 MB allowed: ${wide.stdout} bytes`);
  });

  it("tags, names and ports: label precedence, base is no tag, annotation port, workload name", () => {
    const pod = (labels: Record<string, string>, annotations: Record<string, string> = {}) => ({
      metadata: { labels, annotations },
      spec: { containers: [{ name: "app", ports: [{ containerPort: 9000 }] }] },
    });
    const env = (p: ReturnType<typeof pod>, workload?: string) => {
      const plan = planInjection(p, GOLDEN_OPTIONS, workload);
      assert.equal(plan.action, "inject");
      return plan.action === "inject" ? plan : undefined;
    };
    assert.equal(env(pod({ app: "a", "app.kubernetes.io/name": "b" }))?.app, "b");
    assert.equal(env(pod({}), "wl")?.app, "wl");
    assert.equal(
      env(pod({ app: "a", "lanemesh.io/tag": "blue", "alicloud.service.tag": "x" }))?.tag,
      "blue",
    );
    assert.equal(env(pod({ app: "a", "alicloud.service.tag": "base" }))?.tag, null);
    assert.equal(env(pod({ app: "a" }, { "lanemesh.io/app-port": "7000" }))?.appPort, 7000);
    // A ReplicaSet's pod (what the webhook sees): the Deployment's name.
    const rsPod = {
      metadata: {
        generateName: "cart-7d9c8b5f4-",
        labels: { "pod-template-hash": "7d9c8b5f4" },
        ownerReferences: [{ kind: "ReplicaSet", name: "cart-7d9c8b5f4" }],
      },
      spec: { containers: [{ name: "c", ports: [{ containerPort: 1 }] }] },
    };
    const p = planInjection(rsPod, GOLDEN_OPTIONS);
    assert.ok(p.action === "inject" && p.app === "cart");
  });

  it("opt-out, hostNetwork, bad annotations and unknown ports leave the pod unchanged", () => {
    const base = { containers: [{ name: "app", ports: [{ containerPort: 80 }] }] };
    const cases: [Json, boolean][] = [
      [{ metadata: { annotations: { "lanemesh.io/inject": "false" } }, spec: base }, false],
      [{ metadata: { labels: { app: "x" } }, spec: { ...base, hostNetwork: true } }, true],
      [
        {
          metadata: {
            labels: { app: "x" },
            annotations: { "lanemesh.io/exclude-outbound-ports": "5432;x" },
          },
          spec: base,
        },
        true,
      ],
      [
        {
          metadata: {
            labels: { app: "x" },
            annotations: { "lanemesh.io/exclude-outbound-cidrs": "10.0.0.0" },
          },
          spec: base,
        },
        true,
      ],
      [
        {
          metadata: { labels: { app: "x" }, annotations: { "lanemesh.io/app-port": "http" } },
          spec: base,
        },
        true,
      ],
      [{ metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "app" }] } }, true],
      [{ metadata: { labels: { app: "x", "lanemesh.io/tag": "a b" } }, spec: base }, true],
    ];
    for (const [pod, warn] of cases) {
      const r = injectPod(pod, GOLDEN_OPTIONS, "w");
      assert.equal(r.plan.action, "skip", JSON.stringify(pod));
      assert.ok(r.plan.action === "skip" && r.plan.warn === warn, JSON.stringify(r.plan));
      assert.deepEqual(r.pod, pod);
    }
  });

  it("the CLI reads a file or standard input, uses the package's image and version, and warns on stderr", async () => {
    const file = join(DIR, "list.yaml");
    const r = await runCli(["inject", "-f", file]);
    assert.equal(r.code, 0, r.stderr);
    const expected = injectYaml(readFileSync(file, "utf8"), {
      ...GOLDEN_OPTIONS,
      image: DEFAULT_IMAGE,
      version: VERSION,
    }).text;
    assert.equal(r.stdout, expected);
    const legacy = await runCli(["inject", "--legacy", "--image", "r.example/lm:1", "-f", file]);
    assert.ok(legacy.stdout.includes("image: r.example/lm:1"));
    assert.ok(!legacy.stdout.includes("restartPolicy: Always"));
    const stdin = spawnSync(process.execPath, [CLI, "inject", "-f", "-"], {
      input:
        "apiVersion: v1\nkind: Pod\nmetadata: { name: p }\nspec: { containers: [{ name: c }] }\n",
      encoding: "utf8",
    });
    assert.equal(stdin.status, 0, stdin.stderr);
    assert.match(stdin.stderr, /warning: Pod\/p: not injected: no app port/);
    assert.equal(
      stdin.stdout,
      "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c}]}\n",
    );
    const bad = await runCli(["inject", "-f", join(DIR, "no-such.yaml")]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /no such file/);
  });
});
