// deploy/Dockerfile cannot be built here (no container engine): this test reads its runtime stage and runs the same steps in a scratch folder — the production install from package-lock.json (offline, from the local npm cache), the copies, then the ENTRYPOINT — so a broken step or a missing runtime file is caught.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { renderCrds } from "../../src/kubernetes/install.js";
import { PROXY_UID, VERSION } from "../../src/kubernetes/names.js";
import { REPO } from "../helpers/procs.js";

const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}

/** The Dockerfile's instructions per stage (continuation lines joined, comments dropped). */
function stages(text: string): Instruction[][] {
  const out: Instruction[][] = [];
  const joined = text.replace(/\\\n/g, " ");
  for (const raw of joined.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const [op = "", ...rest] = line.split(/\s+/);
    const ins = { op: op.toUpperCase(), args: rest.join(" ") };
    if (ins.op === "FROM") out.push([]);
    out.at(-1)?.push(ins);
  }
  return out;
}

/** RUN commands the test cannot run here, and why that is safe. */
const NOT_HERE: [RegExp, string][] = [
  [/^apt-get (update|install)/, "system packages (iptables) of the image"],
  [/^rm -rf \/var\/lib\/apt\/lists/, "image size"],
  [/^(groupadd|useradd) /, "the proxy's user in the image"],
  [/^npm cache clean/, "image size; must not wipe this machine's cache"],
];

const dockerfile = readFileSync(join(REPO, "deploy/Dockerfile"), "utf8");
const [build, runtime] = stages(dockerfile);
const scratch = mkdtempSync(join(tmpdir(), "lanemesh-image-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe("deploy/Dockerfile", () => {
  it("has a build stage and a slim runtime stage with iptables and the proxy's fixed non-root UID", () => {
    assert.ok(build && runtime, "two stages");
    assert.match(build[0]?.args ?? "", /^node:20\S* AS build$/);
    assert.match(runtime[0]?.args ?? "", /^node:20-slim$/);
    assert.ok(build.some((i) => i.op === "RUN" && /npm ci\b.*&& npm run build/.test(i.args)));
    // The build stage copies everything tsconfig.json compiles.
    const tsconfig = JSON.parse(readFileSync(join(REPO, "tsconfig.json"), "utf8")) as {
      include: string[];
    };
    const copied = build
      .filter((i) => i.op === "COPY")
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    for (const inc of tsconfig.include)
      assert.ok(copied.includes(inc.split("/")[0] as string), `build copies ${inc}`);
    const runs = runtime
      .filter((i) => i.op === "RUN")
      .map((i) => i.args)
      .join(" && ");
    assert.match(runs, /apt-get install -y --no-install-recommends iptables/);
    assert.match(runs, new RegExp(`useradd --uid ${PROXY_UID} `));
    assert.deepEqual(
      runtime.filter((i) => i.op === "USER").map((i) => i.args),
      [`${PROXY_UID}:${PROXY_UID}`],
    );
    assert.ok(
      !runtime.some((i) => i.op === "COPY" && /node_modules/.test(i.args)),
      "no dev node_modules copied",
    );
  });

  it("its runtime steps, run in a scratch folder, give a working lanemesh with production dependencies only", async () => {
    assert.ok(runtime);
    let workdir = scratch;
    let entrypoint: string[] = [];
    const at = (p: string) => (p.startsWith("/") ? join(scratch, p) : join(workdir, p));
    for (const ins of runtime.slice(1)) {
      if (ins.op === "WORKDIR") workdir = at(ins.args);
      else if (ins.op === "COPY") {
        const parts = ins.args.split(/\s+/);
        const from = parts[0]?.startsWith("--from=") ? parts.shift() : undefined;
        const dest = parts.pop() as string;
        for (const src of parts) {
          // --from=build: the build stage's output is this repository's own build (npm test builds first).
          const source = join(REPO, from ? src.replace(/^\/src\//, "") : src);
          const target =
            dest.endsWith("/") && !from ? join(at(dest), src.split("/").pop() as string) : at(dest);
          cpSync(source, target, { recursive: true });
        }
      } else if (ins.op === "RUN") {
        for (const cmd of ins.args.split("&&").map((c) => c.trim())) {
          if (NOT_HERE.some(([re]) => re.test(cmd))) continue;
          assert.match(cmd, /^npm (ci|install|prune) /, `teach this test the RUN step: ${cmd}`);
          const args = [...cmd.split(/\s+/).slice(1), "--offline", "--no-audit", "--no-fund"];
          await run("npm", args, { cwd: workdir, timeout: 300_000 });
        }
      } else if (ins.op === "ENTRYPOINT") entrypoint = JSON.parse(ins.args) as string[];
    }
    assert.deepEqual(entrypoint.slice(0, 1), ["node"]);
    const main = at(entrypoint[1] as string);
    assert.ok(existsSync(main), main);
    const lanemesh = (...args: string[]) =>
      run(process.execPath, [main, ...args], { cwd: workdir, timeout: 60_000 });
    assert.equal((await lanemesh("--version")).stdout.trim(), VERSION);
    const help = await lanemesh("sidecar", "--help");
    assert.match(help.stdout, /--app-port/);
    // Runtime dependencies and shipped files are there: yaml (install), the .proto (control plane).
    assert.equal((await lanemesh("install", "--crds")).stdout, renderCrds());
    // The interception addon is where the sidecar loads it from (it links only libc).
    assert.ok(existsSync(join(workdir, "native/build/Release/original_dst.node")));
    assert.ok(existsSync(join(workdir, "proto/lanemesh.proto")));
    // The web console's static files ship beside the control plane that serves them.
    for (const f of [
      "index.html",
      "console.js",
      "dom.js",
      "topology.js",
      "console.css",
      "icon.svg",
    ])
      assert.ok(existsSync(join(workdir, "dist/src/control-plane/ui", f)), `console file ${f}`);
    const deps = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    for (const d of Object.keys(deps.dependencies))
      assert.ok(existsSync(join(workdir, "node_modules", d)), d);
    // What the lock file marks dev-only (typescript, biome, ajv, kubernetes-models…) is not installed.
    const lock = JSON.parse(readFileSync(join(REPO, "package-lock.json"), "utf8")) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages).filter(([p, e]) => p !== "" && e.dev === true);
    assert.ok(devOnly.some(([p]) => p === "node_modules/typescript"));
    for (const [p] of devOnly)
      assert.ok(!existsSync(join(workdir, p)), `dev-only ${p} in the image`);
  });
});
