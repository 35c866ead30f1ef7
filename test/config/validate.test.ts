// Config loading and validation: seed fixtures load, invalid.yaml reports every mistake with file, document and field, nothing partial.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { type ConfigError, formatError } from "../../src/config/document.js";
import { loadFiles, parseDocuments, toEndpoint, validateResources } from "../../src/config/load.js";

const fixture = (name: string) =>
  fileURLToPath(new URL(`../../../test/fixtures/${name}`, import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "lanemesh-config-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function errorsOf(yaml: string, file = "t.yaml"): ConfigError[] {
  const parsed = parseDocuments(yaml, file);
  const v = validateResources(parsed.docs);
  return [...parsed.errors, ...(v.ok ? [] : v.errors)];
}

function okOf(yaml: string) {
  const parsed = parseDocuments(yaml, "t.yaml");
  assert.deepEqual(parsed.errors, []);
  const v = validateResources(parsed.docs);
  assert.ok(v.ok, JSON.stringify(!v.ok && v.errors.map(formatError)));
  return v;
}

const HEAD = "apiVersion: lanemesh.io/v1alpha1\n";
const ROUTE = `${HEAD}kind: Route\nmetadata: { name: a-route }\nspec: { gateway: default, match: { prefix: /a }, service: sc-a }\n`;
const GROUP = (mode = "content") =>
  `${HEAD}kind: LaneGroup\nmetadata: { name: mall }\nspec: { entry: { gateway: default, routes: [a-route] }, apps: [sc-a, sc-b, sc-c], mode: ${mode} }\n`;
const LANE = (spec: string) =>
  `${HEAD}kind: Lane\nmetadata: { name: gray }\nspec: { group: mall, tag: gray, ${spec} }\n`;
const MATCH = 'match: { conditions: [ { type: header, name: canary, op: "==", value: gray } ] }';

test("the seed fixtures load, together, as one batch with defaults applied", () => {
  const v = loadFiles([fixture("seed-content.yaml"), fixture("seed-endpoints.yaml")]);
  assert.ok(v.ok, JSON.stringify(!v.ok && v.errors.map(formatError)));
  if (!v.ok) return;
  assert.deepEqual(
    v.rules.routes.map((r) => r.metadata.name),
    ["a-route"],
  );
  assert.deepEqual(v.rules.groups[0]?.spec, {
    entry: { gateway: "default", routes: ["a-route"] },
    apps: ["sc-a", "sc-b", "sc-c"],
    mode: "content",
  });
  const gray = v.rules.lanes[0];
  assert.equal(gray?.spec.enabled, true);
  assert.deepEqual(gray?.spec.apps, ["sc-a", "sc-c"]);
  assert.deepEqual(gray?.spec.match, {
    mode: "all",
    conditions: [{ type: "header", name: "canary", op: "==", value: "gray" }],
  });
  const endpoints = v.instances.map(toEndpoint);
  assert.deepEqual(
    endpoints.map(
      (e) => `${e.service} ${e.tag ?? "base"} ${e.address}:${e.port} w${e.weight} ${e.healthy}`,
    ),
    [
      "sc-a base 127.0.0.1:18081 w100 true",
      "sc-a gray 127.0.0.1:18082 w100 true",
      "sc-b base 127.0.0.1:18083 w100 true",
      "sc-c base 127.0.0.1:18084 w100 true",
      "sc-c gray 127.0.0.1:18085 w100 true",
    ],
  );
  const ratio = loadFiles([fixture("seed-ratio.yaml")]);
  assert.ok(ratio.ok);
  if (ratio.ok) assert.equal(ratio.rules.lanes[0]?.spec.weight, 30);
});

// Every mistake in invalid.yaml: 1-based document number as printed, field path, and a word of the message.
const EXPECTED: [number, string, string, RegExp][] = [
  [6, "Lane/bad-op", "spec.match.conditions[0].op", /unknown op "=~"/],
  [7, "Lane/empty-in", "spec.match.conditions[0].values", /must not be empty/],
  [8, "Lane/pct-150", "spec.match.conditions[0].value", /between 0 and 100; got 150/],
  [9, "Lane/orphan", "spec.group", /no LaneGroup named "no-such-group"/],
  [10, "Lane/mode-mismatch", "spec.weight", /content mode/],
  [10, "Lane/mode-mismatch", "spec.match", /content mode, so its lanes need match/],
  [12, "Lane/ratio-b", "spec.weights.r-ok", /add up to 110 across all lane groups/],
  [13, "Lane/bad-regex", "spec.match.conditions[0].value", /does not compile/],
  [14, "Lane/unsafe-regex", "spec.match.conditions[0].value", /unsafe regex: backreference/],
  [15, "Lane/dup-tag", "spec.tag", /already has tag t1/],
  [16, "Lane/typo", "spec.enabeld", /unknown field.*did you mean "enabled"/],
  [17, "", "kind", /unknown kind "Gateway"/],
  [18, "LaneGroup/bad-entry", "spec.entry.routes[0]", /belongs to gateway edge/],
  [18, "LaneGroup/bad-entry", "spec.entry.routes[1]", /no Route named "missing-route"/],
  [19, "Lane/base-tag", "spec.tag", /reserved/],
  [19, "Lane/base-tag", "spec.apps[0]", /svc-z is not one of the apps/],
  [20, "Instance/bad-port", "spec.port", /between 1 and 65535/],
  [21, "Route/two-matches", "spec.match", /exactly one of prefix or exact/],
  [22, "Lane/Bad_Name", "metadata.name", /DNS-like/],
  [
    22,
    "Lane/Bad_Name",
    "spec.match.conditions[0].value",
    /must be a string; got number 123 \(quote it/,
  ],
  [23, "Lane/bad-op", "metadata.name", /duplicate name/],
  [24, "Lane/stray-weight", "spec.weights.other-gw", /not an entry route/],
];

test("invalid.yaml: every mistake is reported with file, document, name and field, and nothing else", () => {
  const file = fixture("invalid.yaml");
  const v = loadFiles([file]);
  assert.equal(v.ok, false);
  if (v.ok) return;
  const lines = v.errors.map(formatError);
  for (const [doc, name, path, message] of EXPECTED) {
    const hit: ConfigError | undefined = v.errors.find(
      (e) => e.doc === doc - 1 && e.path === path && message.test(e.message),
    );
    assert.ok(hit, `missing: document ${doc} ${path} ${message}\n${lines.join("\n")}`);
    assert.equal(hit.file, file);
    assert.equal(hit.docName, name === "" ? null : name);
    assert.ok(typeof hit.line === "number" && hit.line > 1, "a line number is known");
    const prefix = `${file}: document ${doc}${name === "" ? "" : ` (${name})`}: ${path}: `;
    assert.ok(formatError(hit).startsWith(prefix), formatError(hit));
  }
  assert.equal(v.errors.length, EXPECTED.length, `unexpected extra errors:\n${lines.join("\n")}`);
  // Documents 1-5 are valid: nothing is said about them.
  assert.ok(v.errors.every((e) => e.doc >= 5));
});

test("formatError: 1-based document, optional name, path and line", () => {
  const base: ConfigError = {
    file: "f.yaml",
    doc: 0,
    docName: "Lane/gray",
    path: "spec.tag",
    message: "bad",
  };
  assert.equal(formatError(base), "f.yaml: document 1 (Lane/gray): spec.tag: bad");
  assert.equal(
    formatError({ ...base, line: 7 }),
    "f.yaml: document 1 (Lane/gray): spec.tag: bad (line 7)",
  );
  assert.equal(formatError({ ...base, docName: null, path: "" }), "f.yaml: document 1: bad");
  assert.equal(formatError({ ...base, doc: -1, docName: null, path: "" }), "f.yaml: bad");
});

test("a missing file is an error naming it; the other files are still checked", () => {
  const missing = join(tmp, "nope.yaml");
  const v = loadFiles([missing, fixture("invalid.yaml")]);
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.equal(formatError(v.errors[0] as ConfigError), `${missing}: cannot read: no such file`);
  assert.ok(v.errors.length > 1);
  const dir = loadFiles([tmp]);
  assert.ok(!dir.ok && dir.errors[0]?.message === "cannot read: is a directory");
});

test("YAML syntax errors name the document and line; valid files alone are fine", () => {
  const file = join(tmp, "broken.yaml");
  writeFileSync(file, `${ROUTE}---\n${HEAD}kind: Lane\nmetadata: { name: x\nspec: [\n`);
  const v = loadFiles([file]);
  assert.equal(v.ok, false);
  if (v.ok) return;
  assert.ok(
    v.errors.some((e) => e.doc === 1 && e.message.startsWith("YAML syntax:") && (e.line ?? 0) >= 5),
    v.errors.map(formatError).join("\n"),
  );
  const dup = errorsOf(`${HEAD}kind: Route\nkind: Lane\n`);
  assert.ok(
    dup.some((e) => /unique/i.test(e.message)),
    "duplicate keys are refused",
  );
});

test("empty documents and comment-only files are skipped", () => {
  assert.deepEqual(errorsOf("# nothing here\n"), []);
  const v = okOf(`---\n${ROUTE}---\n---\n`);
  assert.ok(v.ok && v.rules.routes.length === 1);
});

test("a batch is validated as a whole: a lane may name a group from another file", () => {
  const f1 = join(tmp, "routes.yaml");
  const f2 = join(tmp, "lanes.yaml");
  writeFileSync(f1, `${ROUTE}---\n${GROUP()}`);
  writeFileSync(f2, LANE(MATCH));
  const both = loadFiles([f1, f2]);
  assert.ok(both.ok);
  const alone = loadFiles([f2]);
  assert.ok(
    !alone.ok &&
      alone.errors.length === 1 &&
      alone.errors[0]?.path === "spec.group" &&
      alone.errors[0].file === f2,
  );
});

// Table of single mistakes: [yaml, path, message].
const SINGLE: [string, string, RegExp][] = [
  [
    `kind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: { prefix: /a }, service: s }\n`,
    "apiVersion",
    /required/,
  ],
  [
    `apiVersion: v1\nkind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: { prefix: /a }, service: s }\n`,
    "apiVersion",
    /must be lanemesh.io\/v1alpha1/,
  ],
  [
    `${HEAD}kind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: { prefix: a }, service: s }\n`,
    "spec.match.prefix",
    /start with "\/"/,
  ],
  [
    `${HEAD}kind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: {}, service: s }\n`,
    "spec.match",
    /neither/,
  ],
  [
    `${HEAD}kind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: { prefix: /a } }\n`,
    "spec.service",
    /required field is missing/,
  ],
  [
    `${HEAD}kind: Route\nmetadata: { name: r, namespace: x }\nspec: { gateway: g, match: { prefix: /a }, service: s }\n`,
    "metadata.namespace",
    /unknown field/,
  ],
  [
    `${HEAD}kind: Route\nmetadata: { name: r }\nspec: { gateway: g, match: { prefix: /a }, service: s }\nstatus: {}\n`,
    "status",
    /unknown field/,
  ],
  [
    `${ROUTE}---\n${HEAD}kind: Route\nmetadata: { name: r2 }\nspec: { gateway: default, match: { prefix: /a }, service: s }\n`,
    "spec.match",
    /already matches prefix \/a/,
  ],
  [
    `${ROUTE}---\n${HEAD}kind: LaneGroup\nmetadata: { name: g }\nspec: { entry: { gateway: default, routes: [] }, apps: [a], mode: content }\n`,
    "spec.entry.routes",
    /must not be empty/,
  ],
  [
    `${ROUTE}---\n${HEAD}kind: LaneGroup\nmetadata: { name: g }\nspec: { entry: { gateway: default, routes: [a-route] }, apps: [a, a], mode: content }\n`,
    "spec.apps[1]",
    /duplicate entry/,
  ],
  [
    `${ROUTE}---\n${HEAD}kind: LaneGroup\nmetadata: { name: g }\nspec: { entry: { gateway: default, routes: [a-route] }, apps: [a], mode: canary }\n`,
    "spec.mode",
    /content or ratio/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE(`${MATCH}, enabled: "yes"`)}`,
    "spec.enabled",
    /true or false/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { mode: most, conditions: [ { type: header, name: a, op: "==", value: b } ] }')}`,
    "spec.match.mode",
    /all or any/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE("match: { conditions: [] }")}`,
    "spec.match.conditions",
    /at least one/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: body, name: a, op: "==", value: b } ] }')}`,
    "spec.match.conditions[0].type",
    /unknown condition type "body"/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: header, name: "bad name", op: "==", value: b } ] }')}`,
    "spec.match.conditions[0].name",
    /valid header name/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: header, name: a, op: "==" } ] }')}`,
    "spec.match.conditions[0].value",
    /needs a string/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE("match: { conditions: [ { type: header, name: a, op: in, value: b } ] }")}`,
    "spec.match.conditions[0].value",
    /takes `values`/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: header, name: a, op: "==", value: b, values: [b] } ] }')}`,
    "spec.match.conditions[0].values",
    /only for op in/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: header, name: a, op: percentage, value: "10" } ] }')}`,
    "spec.match.conditions[0].value",
    /must be a number/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE("match: { conditions: [ { type: header, name: a, op: in, values: [x, 1] } ] }")}`,
    "spec.match.conditions[0].values[1]",
    /must be a string/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE('match: { conditions: [ { type: header, name: a, op: regex, value: "(?=x)" } ] }')}`,
    "spec.match.conditions[0].value",
    /lookahead/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE(`match: { conditions: [ { type: header, name: a, op: regex, value: "${"a".repeat(1100)}" } ] }`)}`,
    "spec.match.conditions[0].value",
    /at most 1024/,
  ],
  [`${ROUTE}---\n${GROUP("ratio")}---\n${LANE("weight: 101")}`, "spec.weight", /between 0 and 100/],
  [
    `${ROUTE}---\n${GROUP("ratio")}---\n${LANE("weights: { a-route: -1 }")}`,
    "spec.weights.a-route",
    /between 0 and 100/,
  ],
  [
    `${ROUTE}---\n${GROUP("ratio")}---\n${LANE("enabled: true")}`,
    "spec",
    /weight or weights required/,
  ],
  [
    `${ROUTE}---\n${GROUP("ratio")}---\n${LANE(`weight: 10, ${MATCH}`)}`,
    "spec.match",
    /ratio mode/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${LANE(`weights: { a-route: 10 }, ${MATCH}`)}`,
    "spec.weights",
    /content mode/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${HEAD}kind: Lane\nmetadata: { name: g }\nspec: { group: mall, tag: "-x", ${MATCH} }\n`,
    "spec.tag",
    /token/,
  ],
  [
    `${ROUTE}---\n${GROUP()}---\n${HEAD}kind: Lane\nmetadata: { name: g }\nspec: { group: mall, tag: "a b", ${MATCH} }\n`,
    "spec.tag",
    /token/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: 10.0.0.1, port: 80.5 }\n`,
    "spec.port",
    /whole number/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: "http://x", port: 80 }\n`,
    "spec.address",
    /without scheme/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: x, port: 80, weight: 10001 }\n`,
    "spec.weight",
    /between 0 and 10000/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: x, port: 80, healthy: 1 }\n`,
    "spec.healthy",
    /true or false/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: x, port: 80, metadata: { version: 2 } }\n`,
    "spec.metadata.version",
    /quote it/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: x, port: 80, metadata: { alicloud.service.tag: base } }\n`,
    'spec.metadata["alicloud.service.tag"]',
    /reserved/,
  ],
  [
    `${HEAD}kind: Instance\nmetadata: { name: i }\nspec: { service: s, address: x, port: 80 }\n---\n${HEAD}kind: Instance\nmetadata: { name: j }\nspec: { service: s, address: x, port: 80 }\n`,
    "spec.port",
    /already s at x:80/,
  ],
  ["- just\n- a list\n", "", /must be a mapping/],
];

test("single mistakes are reported at the right field", () => {
  for (const [yaml, path, message] of SINGLE) {
    const errors = errorsOf(yaml);
    const shown = errors.map(formatError).join("\n");
    assert.equal(errors.length, 1, `${path}: expected one error, got:\n${shown}`);
    assert.equal(errors[0]?.path, path, shown);
    assert.match(errors[0]?.message ?? "", message);
  }
});

test("ratio sums: 100 on one route across groups is fine; closed lanes still count", () => {
  const group2 = GROUP("ratio").replace("name: mall", "name: mall2");
  const lane2 = (w: number, enabled = true) =>
    `${HEAD}kind: Lane\nmetadata: { name: blue }\nspec: { group: mall2, tag: blue, weight: ${w}, enabled: ${enabled} }\n`;
  okOf(`${ROUTE}---\n${GROUP("ratio")}---\n${group2}---\n${LANE("weight: 60")}---\n${lane2(40)}`);
  const over = errorsOf(
    `${ROUTE}---\n${GROUP("ratio")}---\n${group2}---\n${LANE("weight: 60")}---\n${lane2(41, false)}`,
  );
  assert.equal(over.length, 1);
  assert.equal(over[0]?.docName, "Lane/blue");
  assert.match(over[0]?.message ?? "", /add up to 101/);
});

test("validateResources works on plain objects (no line numbers) and returns nothing partial", () => {
  const v = validateResources([
    {
      origin: { file: "api", doc: 0 },
      value: {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "Route",
        metadata: { name: "r" },
        spec: { gateway: "g", match: { exact: "/x" }, service: "s" },
      },
    },
    {
      origin: { file: "api", doc: 1 },
      value: {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "Lane",
        metadata: { name: "l" },
        spec: { group: "none", tag: "t", weight: 5 },
      },
    },
  ]);
  assert.equal(v.ok, false);
  assert.ok(
    !v.ok &&
      v.errors.length === 1 &&
      v.errors[0]?.line === undefined &&
      v.errors[0]?.docName === "Lane/l",
  );
  assert.equal("rules" in v, false);
});

test("toEndpoint applies defaults and reads the tag from spec or the metadata keys", () => {
  const inst = (spec: Record<string, unknown>) =>
    ({
      apiVersion: "lanemesh.io/v1alpha1",
      kind: "Instance",
      metadata: { name: "i" },
      spec: { service: "s", address: "a", port: 1, ...spec },
    }) as never;
  assert.deepEqual(toEndpoint(inst({})), {
    service: "s",
    address: "a",
    port: 1,
    tag: null,
    weight: 100,
    healthy: true,
    metadata: {},
  });
  assert.equal(
    toEndpoint(inst({ tag: "gray", metadata: { "lanemesh.io/tag": "blue" } })).tag,
    "gray",
  );
  assert.equal(
    toEndpoint(inst({ metadata: { "lanemesh.io/tag": "blue", "alicloud.service.tag": "x" } })).tag,
    "blue",
  );
  assert.equal(toEndpoint(inst({ metadata: { "alicloud.service.tag": "gray" } })).tag, "gray");
  assert.deepEqual(toEndpoint(inst({ weight: 0, healthy: false })).weight, 0);
});

test("a condition without its op, whatever its other fields hold, is an error, never a crash", () => {
  const docs = [ROUTE, GROUP(), LANE("match: { conditions: [ { values: { a: 1 } } ] }")];
  const errors = errorsOf(docs.join("---\n"));
  assert.deepEqual(
    errors.map((e) => e.path),
    [
      "spec.match.conditions[0].type",
      "spec.match.conditions[0].name",
      "spec.match.conditions[0].op",
    ],
  );
});

test("a shape memo gives the same results, batch errors at the reused documents' new places, and keeps no document with errors", () => {
  const docsOf = (yaml: string, file: string) => parseDocuments(yaml, file).docs;
  const base = docsOf(`${ROUTE}---\n${GROUP()}---\n${LANE(MATCH)}`, "one.yaml");
  const memo = new WeakMap();
  assert.deepEqual(validateResources(base, memo), validateResources(base));
  // The same objects again, now from another file and after a lane that takes gray's tag.
  const clash = parseDocuments(
    `${HEAD}kind: Lane\nmetadata: { name: gray0 }\nspec: { group: mall, tag: gray, ${MATCH} }\n`,
    "zero.yaml",
  ).docs;
  const moved = [
    ...clash,
    ...base.map((d, i) => ({ origin: { file: "two.yaml", doc: i }, value: d.value })),
  ];
  const withMemo = validateResources(moved, memo);
  assert.deepEqual(withMemo, validateResources(moved));
  assert.ok(!withMemo.ok);
  assert.deepEqual(
    withMemo.errors.map((e) => [e.file, e.doc, e.docName, e.path]),
    [["two.yaml", 2, "Lane/gray", "spec.tag"]],
    "the reused lane's error names where it is now",
  );
  // A document with a shape error is checked again each time (its errors each time).
  const bad = docsOf(`${HEAD}kind: Route\nmetadata: { name: r }\nspec: { gateway: 1 }\n`, "b.yaml");
  const first = validateResources(bad, memo);
  assert.ok(!first.ok);
  assert.deepEqual(validateResources(bad, memo), first);
  assert.equal(memo.has(bad[0]?.value as object), false);
});
