// Holds docs/ to the code: every resource field the validator accepts, every metric the proxies and the control plane export, every command and flag, every LANEMESH_* name, every link; a failure names exactly what to document.
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { describe, it } from "node:test";
import type { Command, Option } from "commander";
import type { Registry } from "prom-client";
import { buildProgram } from "../../src/cli/program.js";
import { formatPath } from "../../src/config/checker.js";
import { API_VERSION, KINDS } from "../../src/config/types.js";
import { validateBatch } from "../../src/config/validate.js";
import { ControlPlaneMetrics } from "../../src/control-plane/metrics.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { REPO } from "../helpers/procs.js";
import { anchor, links, read, sections, tableRows, ticks } from "./markdown.js";

const DOCS = join(REPO, "docs");
const doc = (name: string): string => read(join(DOCS, name));

// ---- resource fields: what the validator accepts, found by asking it ----

const PROBE = "zzProbe";

/** The fields allowed at `at` of a `kind` document, read from the validator's "unknown field" error. */
function allowedAt(kind: string, at: (string | number)[]): string[] | null {
  const value: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind,
    metadata: { name: "probe" },
    spec: {},
  };
  let node: Record<string, unknown> | unknown[] = value;
  at.forEach((seg, i) => {
    const last = i === at.length - 1;
    const next = typeof at[i + 1] === "number" ? [] : {};
    const child = last ? { [PROBE]: 1 } : next;
    (node as Record<string | number, unknown>)[seg] = child;
    node = child as Record<string, unknown>;
  });
  if (at.length === 0) value[PROBE] = 1;
  const v = validateBatch([{ origin: { file: "probe", doc: 0 }, value }]);
  if (v.ok) return null;
  const e = v.errors.find((x) => x.path === formatPath([...at, PROBE]));
  const m = e ? /^unknown field \(allowed: ([^)]*)\)/.exec(e.message) : null;
  return m?.[1] ? m[1].split(", ") : null;
}

/** Every field path of a kind (`spec.match.conditions[].op`), mappings and lists of mappings walked. */
function validatorFields(kind: string): Set<string> {
  const out = new Set<string>();
  const walk = (at: (string | number)[], shown: string): boolean => {
    const allowed = allowedAt(kind, at);
    if (allowed === null) return false;
    for (const f of allowed) {
      const path = shown === "" ? f : `${shown}.${f}`;
      out.add(path);
      if (!walk([...at, f], path)) walk([...at, f, 0], `${path}[]`);
    }
    return true;
  };
  walk([], "");
  return out;
}

/** The field paths docs/resources.md lists for a kind: its own table and "Every resource". */
function documentedFields(kind: string): Set<string> {
  const all = sections(doc("resources.md"));
  const rows = all
    .filter((s) => s.heading === kind || s.heading === "Every resource")
    .flatMap((s) => tableRows(s.lines));
  return new Set(rows.map((r) => ticks(r[0] ?? "")[0]).filter((f): f is string => !!f));
}

function difference(a: Set<string>, b: Set<string>): string[] {
  return [...a].filter((x) => !b.has(x)).sort();
}

describe("docs/resources.md", () => {
  it("probing the validator finds the fields it knows (the probe itself works)", () => {
    const lane = validatorFields("Lane");
    for (const f of ["metadata.name", "spec.tag", "spec.match.conditions[].values", "spec.weights"])
      assert.ok(lane.has(f), `${f} not found by probing: ${[...lane].join(", ")}`);
  });

  for (const kind of KINDS)
    it(`documents every field of ${kind}, and no other`, () => {
      const known = validatorFields(kind);
      const documented = documentedFields(kind);
      const missing = difference(known, documented);
      const extra = difference(documented, known);
      assert.deepEqual(
        missing,
        [],
        `document these ${kind} fields in docs/resources.md (a table row under "## ${kind}", field in backticks): ${missing.join(", ")}`,
      );
      assert.deepEqual(
        extra,
        [],
        `docs/resources.md lists ${kind} fields the validator does not accept: ${extra.join(", ")}`,
      );
    });
});

// ---- metrics: what the registries hold ----

interface MetricFacts {
  name: string;
  type: string;
  labels: string[];
}

async function registryMetrics(registry: Registry): Promise<MetricFacts[]> {
  const out: MetricFacts[] = [];
  for (const m of registry.getMetricsAsArray()) {
    const metric = m as unknown as {
      get(): Promise<{ name: string; type: string }>;
      labelNames?: readonly string[];
    };
    const data = await metric.get();
    out.push({ name: data.name, type: data.type, labels: [...(metric.labelNames ?? [])].sort() });
  }
  return out;
}

function documentedMetrics(): Map<string, { type: string; labels: string[] }> {
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const row of tableRows(doc("metrics.md").split("\n"))) {
    const name = ticks(row[0] ?? "")[0];
    if (name === undefined || !name.startsWith("lanemesh_")) continue;
    out.set(name, { type: (row[1] ?? "").trim(), labels: ticks(row[2] ?? "").sort() });
  }
  return out;
}

describe("docs/metrics.md", () => {
  it("documents every metric of ProxyMetrics and ControlPlaneMetrics with its type and labels", async () => {
    const exported = [
      ...(await registryMetrics(new ProxyMetrics().registry)),
      ...(await registryMetrics(new ControlPlaneMetrics().registry)),
    ];
    assert.ok(exported.length >= 15, `only ${exported.length} metrics read`);
    const documented = documentedMetrics();
    const missing = exported.filter((m) => !documented.has(m.name));
    assert.deepEqual(
      missing.map((m) => m.name),
      [],
      `document these metrics in docs/metrics.md (name | type | labels): ${missing
        .map((m) => `${m.name} (${m.type}${m.labels.length ? `; ${m.labels.join(", ")}` : ""})`)
        .join(", ")}`,
    );
    const wrong = exported.flatMap((m) => {
      const d = documented.get(m.name);
      if (d === undefined || (d.type === m.type && d.labels.join() === m.labels.join())) return [];
      return [
        `${m.name}: documented as ${d.type} [${d.labels.join(", ")}], is ${m.type} [${m.labels.join(", ")}]`,
      ];
    });
    assert.deepEqual(wrong, [], "docs/metrics.md disagrees with the code");
    const names = new Set(exported.map((m) => m.name));
    const gone = [...documented.keys()].filter((n) => !names.has(n));
    assert.deepEqual(gone, [], `docs/metrics.md lists metrics nobody exports: ${gone.join(", ")}`);
  });
});

// ---- the command line: what the program defines ----

/** The rows of docs/cli.md that a command's sections hold (a heading naming `lanemesh NAME`). */
function cliRows(name: string): string[][] {
  return sections(doc("cli.md"))
    .filter((s) => s.heading.includes(`\`lanemesh ${name}\``))
    .flatMap((s) => tableRows(s.lines));
}

function longFlag(o: Option): string {
  return o.long ?? o.flags;
}

function rowFor(rows: string[][], flag: string): string[] | undefined {
  const re = new RegExp(`(^|[\\s,\`])${flag}([\\s\`<\\[]|$)`);
  return rows.find((r) => re.test(r[0] ?? ""));
}

/** A command with subcommands (`token create`) is documented by its leaves, each in its own section. */
function leaves(cmd: Command, prefix = ""): { name: string; cmd: Command }[] {
  const name = `${prefix}${cmd.name()}`;
  if (cmd.commands.length === 0) return [{ name, cmd }];
  return cmd.commands.flatMap((c) => leaves(c, `${name} `));
}

function flagProblems({ name, cmd }: { name: string; cmd: Command }): string[] {
  const rows = cliRows(name);
  const where = `lanemesh ${name}`;
  if (rows.length === 0) return [`${where}: no section "### \`${where}\`" with a flag table`];
  const problems: string[] = [];
  for (const o of cmd.options) {
    const flag = longFlag(o);
    const row = rowFor(rows, flag);
    if (row === undefined) {
      problems.push(`${where} ${flag}: no row`);
      continue;
    }
    if (o.envVar !== undefined && !ticks(row[1] ?? "").includes(o.envVar))
      problems.push(`${where} ${flag}: env ${o.envVar} not in its row`);
    if (o.defaultValue !== undefined) {
      const shown = o.defaultValueDescription ?? String(o.defaultValue);
      if (!ticks(row[2] ?? "").includes(shown))
        problems.push(`${where} ${flag}: default \`${shown}\` not in its row`);
    }
  }
  const defined = new Set(cmd.options.map(longFlag));
  for (const row of rows) {
    const flag = /--[a-z0-9-]+/.exec(row[0] ?? "")?.[0];
    if (flag !== undefined && !defined.has(flag))
      problems.push(`${where}: docs/cli.md documents ${flag}, which it does not have`);
  }
  return problems;
}

describe("docs/cli.md", async () => {
  const program = await buildProgram();

  it("documents every command, every flag with its environment variable and default, and no other", () => {
    assert.ok(program.commands.length >= 12);
    const problems = program.commands.flatMap((c) => leaves(c)).flatMap(flagProblems);
    assert.deepEqual(problems, [], `docs/cli.md is behind the code:\n${problems.join("\n")}`);
  });
});

// ---- LANEMESH_* names, references to files users do not have, links ----

/** Every file of the repository a user gets (no dependencies, build output or git internals). */
function repositoryFiles(dir = REPO): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if ([".git", "node_modules", "dist", ".lanemesh"].includes(e.name)) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...repositoryFiles(p));
    else if (e.isFile() && statSync(p).size < 1_000_000) out.push(p);
  }
  return out;
}

describe("docs/ and the rest of the repository", () => {
  it("every LANEMESH_* code and variable of src/ is documented in docs/", () => {
    const names = new Set<string>();
    for (const f of repositoryFiles(join(REPO, "src")))
      for (const m of readFileSync(f, "utf8").matchAll(/LANEMESH_[A-Z][A-Z0-9_]*[A-Z0-9]/g))
        names.add(m[0]);
    const docs = readdirSync(DOCS)
      .filter((f) => f.endsWith(".md"))
      .map((f) => doc(f))
      .join("\n");
    const missing = [...names].filter((n) => !docs.includes(n)).sort();
    assert.ok(names.size > 20, `only ${names.size} names found`);
    assert.deepEqual(
      missing,
      [],
      `document these in docs/errors.md (codes) or docs/cli.md (environment variables): ${missing.join(", ")}`,
    );
  });

  it("nothing points to design notes users do not have", () => {
    const banned = [["DESIGN", ".md"].join(""), ["..", "shared"].join("/")];
    const found = repositoryFiles().flatMap((f) => {
      const text = readFileSync(f, "utf8");
      return banned.filter((b) => text.includes(b)).map((b) => `${relative(REPO, f)}: ${b}`);
    });
    assert.deepEqual(found, []);
  });

  it("the README links the reference, and every relative link and anchor leads somewhere", () => {
    assert.match(read(join(REPO, "README.md")), /\]\(docs\/README\.md\)/);
    const pages = [
      "README.md",
      "ARCHITECTURE.md",
      "examples/README.md",
      ...readdirSync(DOCS)
        .filter((f) => f.endsWith(".md"))
        .map((f) => `docs/${f}`),
    ];
    const broken: string[] = [];
    for (const page of pages) {
      const text = read(join(REPO, page));
      for (const target of links(text)) {
        const [file, hash] = target.split("#") as [string, string | undefined];
        const path = file === "" ? join(REPO, page) : join(dirname(join(REPO, page)), file);
        if (!existsSync(path)) {
          broken.push(`${page}: ${target} (no such file)`);
          continue;
        }
        if (hash === undefined || !path.endsWith(".md")) continue;
        const anchors = sections(read(path)).map((s) => anchor(s.heading));
        if (!anchors.includes(hash)) broken.push(`${page}: ${target} (no such heading)`);
      }
    }
    assert.deepEqual(broken, []);
  });
});
