// The command tree loads lazily: the whole tree for help, one command's module for its command line, and a sidecar process imports only the modules of its mode (no control plane, no other command, no registry or HTTP client).
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import type { Command } from "commander";
import { buildProgram, COMMAND_NAMES } from "../../src/cli/program.js";
import { freePorts, ProcGroup, REPO, scenarioRules, until, waitReady } from "../helpers/procs.js";

const argv = (...args: string[]): string[] => ["node", "lanemesh", ...args];

/** A command's flags and help as a user sees them, to compare two trees' copies of it. */
const shape = (c: Command) => ({
  flags: c.options.map((o) => o.flags),
  help: c.helpInformation(),
});

describe("the command tree", () => {
  it("holds every command of COMMAND_NAMES, in that order: each module registers the command its entry names", async () => {
    const program = await buildProgram();
    assert.deepEqual(
      program.commands.map((c) => c.name()),
      [...COMMAND_NAMES],
    );
    assert.ok(COMMAND_NAMES.length >= 19);
  });

  it("for a command line naming a command, holds that command only, with the flags and help of the whole tree's", async () => {
    const whole = await buildProgram();
    for (const name of COMMAND_NAMES) {
      const one = await buildProgram(argv(name, "--help"));
      assert.deepEqual(
        one.commands.map((c) => c.name()),
        [name],
      );
      const full = whole.commands.find((c) => c.name() === name) as Command;
      assert.deepEqual(shape(one.commands[0] as Command), shape(full), name);
    }
  });

  it("holds every command for help, -V, `help <command>`, an unknown command and no argument", async () => {
    for (const line of [
      argv("--help"),
      argv("-V"),
      argv("help", "sidecar"),
      argv("sidcar"),
      argv(),
    ])
      assert.equal(
        (await buildProgram(line)).commands.length,
        COMMAND_NAMES.length,
        line.join(" "),
      );
  });
});

/** Records every module URL the child's ESM loader resolves into the file named by the env. */
const HOOKS = `import { appendFileSync } from "node:fs";
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.LOADED_MODULES_FILE, r.url + "\\n");
  return r;
}
`;

describe("what a sidecar process imports", { timeout: 60_000 }, () => {
  let dir: string;
  let rules: string;
  let endpoints: string;
  let register: string;
  const procs = new ProcGroup();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lanemesh-cli-program-"));
    rules = join(dir, "rules.yaml");
    endpoints = join(REPO, "test/fixtures/cli/endpoints.yaml");
    writeFileSync(rules, scenarioRules());
    writeFileSync(join(dir, "hooks.mjs"), HOOKS);
    register = join(dir, "register.mjs");
    writeFileSync(
      register,
      `import { register } from "node:module";\nregister(${JSON.stringify(pathToFileURL(join(dir, "hooks.mjs")).href)});\n`,
    );
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The modules the child has imported so far: ours relative to dist/src/, packages by name. */
  const loaded = (file: string): Set<string> => {
    let text = "";
    try {
      text = readFileSync(file, "utf8");
    } catch {
      // nothing imported yet
    }
    const out = new Set<string>();
    for (const url of text.split("\n")) {
      const ours = /\/dist\/src\/(.+)$/.exec(url);
      const pkg = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
      if (ours) out.add(ours[1] as string);
      else if (pkg) out.add(pkg[1] as string);
    }
    return out;
  };
  /** A sidecar whose imports go to `file`; resolves with it and its admin port. */
  const spawnSidecar = async (name: string, file: string, extra: Record<string, string>) => {
    const [app, inbound, outbound, admin] = (await freePorts(4)) as [
      number,
      number,
      number,
      number,
    ];
    const p = procs.spawn(name, ["sidecar"], {
      NODE_OPTIONS: `--import=${pathToFileURL(register).href}`,
      LOADED_MODULES_FILE: file,
      LANEMESH_BIND: "127.0.0.1",
      LANEMESH_APP: "sc-b",
      LANEMESH_APP_PORT: String(app),
      LANEMESH_INBOUND_PORT: String(inbound),
      LANEMESH_OUTBOUND_PORT: String(outbound),
      LANEMESH_ADMIN_PORT: String(admin),
      ...extra,
    });
    return { p, admin };
  };
  /** Modules no sidecar needs: the control plane's, the other commands', Kubernetes and Nacos clients, undici. */
  const foreign = (mods: Set<string>) =>
    [...mods].filter(
      (m) =>
        m.startsWith("control-plane/") ||
        // kubernetes/iptables.js is pure text work; the sidecar parses --opaque-ports with it.
        (m.startsWith("kubernetes/") && m !== "kubernetes/iptables.js") ||
        m.startsWith("demo/") ||
        m.startsWith("discovery/nacos/") ||
        m.startsWith("discovery/kubernetes/") ||
        ["@kubernetes/client-node", "nacos", "undici"].includes(m) ||
        (m.startsWith("cli/") &&
          ![
            "cli/main.js",
            "cli/program.js",
            "cli/client-version.js",
            "cli/sidecar.js",
            "cli/options.js",
            "cli/proxy-options.js",
            "cli/run-proxy.js",
            "cli/sources.js",
            "cli/lifecycle.js",
          ].includes(m)),
    );

  it("in file mode: the data path, file rules and static endpoints, and neither gRPC nor the control-plane client", async () => {
    const file = join(dir, "file-mode.txt");
    const { p, admin } = await spawnSidecar("sidecar (file mode)", file, {
      LANEMESH_RULES: rules,
      LANEMESH_DISCOVERY: `static:${endpoints}`,
    });
    await waitReady(p, admin);
    const mods = loaded(file);
    for (const m of ["proxy/sidecar.js", "sync/files.js", "discovery/static.js", "pino"])
      assert.ok(mods.has(m), `${m} not imported: ${[...mods].join(" ")}`);
    assert.deepEqual(foreign(mods), []);
    for (const m of ["sync/client.js", "protocol/wire.js", "@grpc/grpc-js", "@grpc/proto-loader"])
      assert.ok(!mods.has(m), `${m} imported in file mode`);
  });

  it("in control-plane mode: the control-plane client and gRPC too, and still nothing of the control plane itself", async () => {
    const file = join(dir, "control-plane-mode.txt");
    const [unused] = await freePorts(1);
    const { p } = await spawnSidecar("sidecar (control-plane mode)", file, {
      LANEMESH_CONTROL_PLANE: `127.0.0.1:${unused}`,
      LANEMESH_STATE_DIR: dir,
      LANEMESH_LOG_LEVEL: "info",
    });
    // Logged once the listeners are up and the stream to the control plane has been opened.
    await until(
      "sidecar started",
      async () => p.output(),
      (out) => out.includes('"msg":"sidecar started"'),
    );
    const mods = loaded(file);
    assert.ok(mods.has("proxy/sidecar.js"), [...mods].join(" "));
    for (const m of ["sync/client.js", "protocol/wire.js", "@grpc/grpc-js"])
      assert.ok(mods.has(m), `${m} not imported: ${[...mods].join(" ")}`);
    assert.deepEqual(foreign(mods), []);
  });
});
