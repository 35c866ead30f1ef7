// `lanemesh install` and deploy/: the files are exactly what the command prints, every manifest (and every injected one) passes the Kubernetes API schemas, the seed's lane resources pass the CRDs and the lanemesh validator alike, and the rendered policy is the one documented.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { rawDocumentsOf } from "../../src/config/custom-resource.js";
import { formatError } from "../../src/config/document.js";
import { validateResources } from "../../src/config/load.js";
import { resourceSchema } from "../../src/kubernetes/crds.js";
import { INJECT_DEFAULTS } from "../../src/kubernetes/inject.js";
import { injectYaml } from "../../src/kubernetes/inject-files.js";
import { renderCrds, renderInstall } from "../../src/kubernetes/install.js";
import { DEFAULT_IMAGE } from "../../src/kubernetes/names.js";
import { crdValidator } from "../helpers/crd-schema.js";
import { kubeProblems } from "../helpers/kube-models.js";
import { REPO, runCli } from "../helpers/procs.js";

// biome-ignore lint/suspicious/noExplicitAny: free-form Kubernetes objects
type Json = Record<string, any>;

const read = (rel: string) => readFileSync(join(REPO, rel), "utf8");
const objects = (text: string): Json[] =>
  parseAllDocuments(text)
    .map((d) => {
      assert.deepEqual(d.errors, []);
      return d.toJS() as Json;
    })
    .filter((o) => o !== null);
const byKind = (objs: Json[], kind: string, name?: string) =>
  objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

async function assertValid(objs: Json[], where: string): Promise<void> {
  for (const o of objs) {
    if (o.apiVersion === "lanemesh.io/v1alpha1") continue;
    if (o.kind === "List") {
      await assertValid(o.items, `${where} List`);
      continue;
    }
    const problems = await kubeProblems(o);
    assert.deepEqual(problems, [], `${where}: ${o.kind}/${o.metadata?.name}`);
  }
}

describe("lanemesh install and deploy/", () => {
  it("deploy/install.yaml and deploy/crds.yaml are what the command prints (npm run deploy:render)", async () => {
    const [all, crds] = await Promise.all([runCli(["install"]), runCli(["install", "--crds"])]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(crds.code, 0, crds.stderr);
    assert.equal(read("deploy/install.yaml"), all.stdout, "run npm run deploy:render");
    assert.equal(read("deploy/crds.yaml"), crds.stdout, "run npm run deploy:render");
    assert.equal(all.stdout, renderInstall());
    assert.equal(crds.stdout, renderCrds());
    assert.ok(!all.stdout.includes("CustomResourceDefinition"), "CRDs are printed apart (--crds)");
    assert.deepEqual(
      objects(crds.stdout).map((o) => o.kind),
      ["CustomResourceDefinition", "CustomResourceDefinition", "CustomResourceDefinition"],
    );
  });

  it("every manifest install prints, with default and other flags, passes the Kubernetes API schemas", async () => {
    await assertValid(objects(renderCrds()), "crds");
    await assertValid(objects(renderInstall()), "install");
    const r = await runCli([
      "install",
      "--namespace",
      "mesh",
      "--replicas",
      "3",
      "--image",
      "r.example/lm:9",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const objs = objects(r.stdout);
    await assertValid(objs, "install --namespace mesh");
    const [dep] = byKind(objs, "Deployment");
    assert.equal(dep?.metadata.namespace, "mesh");
    assert.equal(dep?.spec.replicas, 3);
    assert.equal(dep?.spec.template.spec.containers[0].image, "r.example/lm:9");
    assert.ok(
      objs
        .filter((o) => o.metadata.namespace !== undefined)
        .every((o) => o.metadata.namespace === "mesh"),
    );
    const [hook] = byKind(objs, "MutatingWebhookConfiguration");
    for (const w of hook?.webhooks ?? []) {
      assert.equal(w.clientConfig.service.namespace, "mesh");
      assert.deepEqual(w.namespaceSelector.matchExpressions.at(-1).values, ["mesh", "kube-system"]);
    }
    for (const bad of [
      ["--replicas", "0"],
      ["--namespace", "Bad_NS"],
    ]) {
      const b = await runCli(["install", ...bad]);
      assert.equal(b.code, 1, bad.join(" "));
    }
  });

  it("every file under deploy/ passes the API schemas; the seed's lane resources pass the CRDs and lanemesh alike", async () => {
    const files = [
      "deploy/install.yaml",
      "deploy/crds.yaml",
      ...readdirSync(join(REPO, "deploy/examples")).map((f) => `deploy/examples/${f}`),
    ];
    const lanes: Json[] = [];
    for (const f of files.filter((x) => x.endsWith(".yaml"))) {
      const objs = objects(read(f));
      await assertValid(objs, f);
      lanes.push(...objs.filter((o) => o.apiVersion === "lanemesh.io/v1alpha1"));
    }
    assert.deepEqual(
      lanes.map((o) => o.kind),
      ["Route", "LaneGroup", "Lane"],
    );
    for (const cr of lanes)
      assert.deepEqual(crdValidator(resourceSchema(cr.kind))(cr), [], cr.kind);
    const v = validateResources(rawDocumentsOf(lanes));
    assert.ok(v.ok, JSON.stringify(!v.ok && v.errors.map(formatError)));
    // The same rules as the seed scenario's files: the cluster and the demo route alike.
    const seed = objects(read("examples/mall-content.yaml")).find((o) => o.kind === "Lane");
    assert.deepEqual(lanes[2]?.spec, seed?.spec);
  });

  it("the seed scenario: injection namespace, the image of this version, gray pods by either tag label, plain next hops", async () => {
    const objs = objects(read("deploy/examples/mall.yaml"));
    const [ns] = byKind(objs, "Namespace");
    assert.equal(ns?.metadata.labels["lanemesh.io/inject"], "enabled");
    for (const d of byKind(objs, "Deployment"))
      assert.equal(
        d.spec.template.spec.containers[0].image,
        DEFAULT_IMAGE,
        `${d.metadata.name}: image`,
      );
    const injected = objects(injectYaml(read("deploy/examples/mall.yaml"), INJECT_DEFAULTS).text);
    await assertValid(injected, "mall.yaml injected");
    const env = (name: string) => {
      const d = byKind(injected, "Deployment", name)[0];
      const proxy = d?.spec.template.spec.initContainers?.find(
        (c: Json) => c.name === "lanemesh-proxy",
      );
      return proxy
        ? Object.fromEntries(
            proxy.env.filter((e: Json) => e.value).map((e: Json) => [e.name, e.value]),
          )
        : undefined;
    };
    assert.equal(env("sc-a")?.LANEMESH_APP, "sc-a");
    assert.equal(env("sc-a")?.LANEMESH_TAG, undefined);
    assert.equal(env("sc-a-gray")?.LANEMESH_TAG, "gray");
    assert.equal(env("sc-c-gray")?.LANEMESH_TAG, "gray");
    assert.equal(env("sc-b")?.LANEMESH_APP_PORT, "8080");
    assert.equal(env("gateway"), undefined, "the gateway is not injected");
    const labels = (n: string) => byKind(objs, "Deployment", n)[0]?.spec.template.metadata.labels;
    assert.equal(labels("sc-a-gray")["alicloud.service.tag"], "gray");
    assert.equal(labels("sc-c-gray")["lanemesh.io/tag"], "gray");
    for (const d of byKind(objs, "Deployment").filter((x) => x.metadata.name !== "gateway")) {
      const c = d.spec.template.spec.containers[0];
      assert.equal(c.args[0], "demo-app");
      assert.equal(
        c.args[c.args.indexOf("--proxy") + 1],
        "none",
        "no proxy settings: interception",
      );
      const next = c.args.indexOf("--next");
      if (next >= 0) assert.match(c.args[next + 1], /^http:\/\/sc-[bc]:8080\/$/);
      assert.notEqual(
        d.spec.template.spec.securityContext.runAsUser,
        1337,
        "apps never run as the proxy's UID",
      );
    }
  });

  it("the schema check itself catches wrong types, missing fields and unknown fields", async () => {
    const dep = objects(read("test/fixtures/kubernetes/deployment.golden.yaml"))[0] as Json;
    const typo = structuredClone(dep);
    typo.spec.template.spec.initContainers[1].readinesProbe = {};
    assert.deepEqual(await kubeProblems(typo), [
      "unknown field Deployment.spec.template.spec.initContainers[1].readinesProbe",
    ]);
    const wrongType = structuredClone(dep);
    wrongType.spec.template.spec.initContainers[1].ports[0].containerPort = "15000";
    assert.match((await kubeProblems(wrongType)).join(), /containerPort must be integer/);
    const missing = structuredClone(dep);
    delete missing.spec.selector;
    assert.match((await kubeProblems(missing)).join(), /selector/);
  });

  it("every injected golden passes the API schemas (native sidecar and legacy)", async () => {
    const dir = join(REPO, "test/fixtures/kubernetes");
    for (const f of readdirSync(dir).filter((x) => x.endsWith(".golden.yaml")))
      await assertValid(objects(readFileSync(join(dir, f), "utf8")), f);
  });

  it("the policy rendered: least-privilege RBAC, a hardened HA control plane, a webhook that never blocks pods", () => {
    const objs = objects(renderInstall());
    const [role] = byKind(objs, "ClusterRole", "lanemesh-control-plane");
    assert.deepEqual(role?.rules, [
      {
        apiGroups: ["lanemesh.io"],
        resources: ["routes", "lanegroups", "lanes"],
        verbs: ["get", "list", "watch"],
      },
      { apiGroups: ["lanemesh.io"], resources: ["lanes"], verbs: ["patch"] },
      {
        apiGroups: ["lanemesh.io"],
        resources: ["routes/status", "lanegroups/status", "lanes/status"],
        verbs: ["update", "patch"],
      },
      {
        apiGroups: ["discovery.k8s.io"],
        resources: ["endpointslices"],
        verbs: ["get", "list", "watch"],
      },
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["authentication.k8s.io"], resources: ["tokenreviews"], verbs: ["create"] },
    ]);
    // --proxy-auth kubernetes: TokenReviews through system:auth-delegator.
    const [delegator] = byKind(objs, "ClusterRoleBinding", "lanemesh-control-plane-auth-delegator");
    assert.deepEqual(delegator?.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "ClusterRole",
      name: "system:auth-delegator",
    });
    assert.deepEqual(delegator?.subjects, [
      { kind: "ServiceAccount", name: "lanemesh-control-plane", namespace: "lanemesh-system" },
    ]);
    // The shared config versions: one Lease by name in its own namespace (create is unnamed).
    const [versions] = byKind(objs, "Role", "lanemesh-control-plane-versions");
    assert.equal(versions?.metadata.namespace, "lanemesh-system");
    assert.deepEqual(versions?.rules[1], {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: ["lanemesh-config-version"],
      verbs: ["get", "update"],
    });
    const [hookRole] = byKind(objs, "ClusterRole", "lanemesh-control-plane-webhook");
    assert.deepEqual(hookRole?.rules[0].resourceNames, ["lanemesh-sidecar-injector"]);
    for (const r of [...byKind(objs, "ClusterRole"), ...byKind(objs, "Role")])
      for (const rule of r.rules)
        assert.ok(!rule.verbs.includes("*") && !rule.resources.includes("*"), r.metadata.name);
    const [dep] = byKind(objs, "Deployment");
    const pod = dep?.spec.template.spec;
    const c = pod.containers[0];
    assert.deepEqual(c.args, [
      "control-plane",
      "--store",
      "kubernetes",
      "--discovery",
      "kubernetes",
      "--webhook-port",
      "15017",
      "--proxy-auth",
      "kubernetes",
    ]);
    assert.equal(dep?.spec.replicas, 2);
    assert.ok(pod.affinity.podAntiAffinity);
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.securityContext.capabilities.drop, ["ALL"]);
    assert.ok(c.readinessProbe.httpGet && c.livenessProbe.httpGet && c.resources.requests.cpu);
    assert.ok(pod.volumes.some((v: Json) => v.emptyDir));
    assert.equal(byKind(objs, "PodDisruptionBudget").length, 1);
    const [svc] = byKind(objs, "Service");
    assert.deepEqual(
      svc?.spec.ports.map((p: Json) => `${p.port}->${p.targetPort}`),
      ["15010->grpc", "15014->http", "443->webhook"],
    );
    const [hook] = byKind(objs, "MutatingWebhookConfiguration");
    assert.equal(hook?.webhooks.length, 2);
    for (const w of hook?.webhooks ?? []) {
      assert.equal(w.failurePolicy, "Ignore");
      assert.equal(w.sideEffects, "None");
      assert.deepEqual(w.admissionReviewVersions, ["v1"]);
      assert.ok(w.timeoutSeconds <= 10 && w.reinvocationPolicy);
      assert.equal(w.clientConfig.service.path, "/inject");
      assert.equal(w.clientConfig.caBundle, undefined, "the control plane writes it");
      assert.deepEqual(w.rules[0].resources, ["pods"]);
    }
    // Namespace label OR pod label, never both at once, never the control plane's namespace nor kube-system.
    const [byNs, byPod] = hook?.webhooks ?? [];
    assert.deepEqual(byNs.namespaceSelector.matchExpressions[0], {
      key: "lanemesh.io/inject",
      operator: "In",
      values: ["enabled"],
    });
    assert.deepEqual(byPod.objectSelector.matchExpressions[0], {
      key: "lanemesh.io/inject",
      operator: "In",
      values: ["enabled"],
    });
    assert.deepEqual(byPod.namespaceSelector.matchExpressions[0], {
      key: "lanemesh.io/inject",
      operator: "NotIn",
      values: ["enabled"],
    });
  });
});
