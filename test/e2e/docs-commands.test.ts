// Runs every command the README, examples/, the `$ ` lines of docs/ and the demo's own hints print, as printed, against a running `lanemesh demo` on free ports, and checks exit codes and what they print; so the docs cannot drift from the tool.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { read, splitCode } from "../docs/markdown.js";
import { CLI, type CliResult, freePorts, REPO, runCli } from "../helpers/procs.js";

/** One command as a page prints it, with what the page shows it printing (may be none). */
interface Printed {
  where: string;
  line: string;
  /** Output lines shown under a `$ ` command; null when none are shown. */
  output: string[] | null;
}

/** Commands that start servers or a second demo: not run here (test/demo/run.test.ts runs the demo's). */
const LONG_RUNNING = /^lanemesh (demo|sidecar|gateway|control-plane|demo-app)\b/;

/** The `lanemesh …`/`curl …` lines of a Markdown page's code blocks; `$ ` lines only when `dollarOnly`. */
function fromMarkdown(file: string, dollarOnly: boolean): Printed[] {
  const out: Printed[] = [];
  for (const block of splitCode(read(join(REPO, file))).blocks) {
    let last: Printed | null = null;
    for (const raw of block.lines) {
      const dollar = raw.startsWith("$ ");
      const text = dollar ? raw.slice(2) : raw.trim();
      if (/^(lanemesh|curl) /.test(text) && (dollar || !dollarOnly)) {
        last = { where: file, line: text, output: dollar ? [] : null };
        out.push(last);
      } else if (dollar) last = null;
      else if (last?.output && raw.trim() !== "") last.output.push(raw);
    }
  }
  return out.map((p) => (p.output?.length === 0 ? { ...p, output: null } : p));
}

/** `#   lanemesh apply -f …` comment lines of the example files. */
function fromExamples(): Printed[] {
  const dir = join(REPO, "examples");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .flatMap((f) =>
      read(join(dir, f))
        .split("\n")
        .map((l) => /^#\s+((?:lanemesh|curl) .*)$/.exec(l)?.[1])
        .filter((l): l is string => l !== undefined)
        .map((line) => ({ where: `examples/${f}`, line, output: null })),
    );
}

/**
 * Shell-like words of a line; a `#` starting a word outside quotes starts the comment. A pipe
 * (`lanemesh install | kubectl apply -f -`) ends the command run here: the left side must work,
 * the right side is a tool of the user's (kubectl) this machine has not.
 */
function words(line: string): { argv: string[]; comment: string } {
  const argv: string[] = [];
  let word: string | null = null;
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (quote !== null) {
      if (c === quote) quote = null;
      else word += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== null) argv.push(word);
      word = null;
    } else if (c === "#" && word === null) {
      return { argv, comment: line.slice(i + 1).trim() };
    } else if (c === "|" && word === null) {
      const hash = line.indexOf(" #", i);
      return { argv, comment: hash < 0 ? "" : line.slice(hash + 2).trim() };
    } else word = (word ?? "") + c;
  }
  if (word !== null) argv.push(word);
  return { argv, comment: "" };
}

/** An output line as a pattern: numbers and runs of spaces may differ, the rest is literal. */
function linePattern(line: string): RegExp {
  const parts = line.trim().split(/(\d+|\s+)/);
  const body = parts
    .map((p) =>
      /^\d+$/.test(p)
        ? "\\d+"
        : /^\s+$/.test(p)
          ? "\\s+"
          : p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"),
    )
    .join("");
  return new RegExp(`^${body}$`);
}

/** The printed output must match the real one: line by line, or in order with `...` for elisions. */
function outputProblem(expected: string[], actual: string): string | null {
  const got = actual
    .trimEnd()
    .split("\n")
    .map((l) => l.trim());
  const elided = expected.some((l) => l.trim() === "...");
  const want = expected.filter((l) => l.trim() !== "...").map(linePattern);
  if (!elided) {
    if (got.length !== want.length) return `${got.length} lines, the page shows ${want.length}`;
    const bad = want.findIndex((re, i) => !re.test(got[i] ?? ""));
    return bad === -1 ? null : `line ${bad + 1} is not like ${JSON.stringify(expected[bad])}`;
  }
  let at = 0;
  for (const re of want) {
    while (at < got.length && !re.test(got[at] as string)) at++;
    if (at === got.length) return `no line like ${re} (in order)`;
    at++;
  }
  return null;
}

const CHAIN =
  /^A(gray)?\[127\.0\.0\.1:\d+\](\[config=base\])? -> B\[127\.0\.0\.1:\d+\] -> C(gray)?\[127\.0\.0\.1:\d+\]$/m;

/** What a command's output must look like when the page shows none. */
function shapeProblem(argv: string[], out: string): string | null {
  const [tool, verb] = argv;
  const json = argv.includes("--json") || argv.join(" ").includes("-o json");
  const expect = (ok: boolean, what: string): string | null => (ok ? null : `expected ${what}`);
  if (json) {
    try {
      JSON.parse(out);
      return null;
    } catch {
      return "expected JSON";
    }
  }
  if (tool === "curl")
    return argv.some((a) => a.endsWith("/metrics"))
      ? expect(/^# TYPE lanemesh_/m.test(out), "Prometheus text with lanemesh_ metrics")
      : expect(CHAIN.test(out), "a chain A[…] -> B[…] -> C[…]");
  switch (verb) {
    case "get":
      return expect(/^(NAME|NODE)\s/m.test(out) || argv.includes("yaml"), "a table");
    case "describe":
      return expect(/^Name:\s/m.test(out), "Name: …");
    case "apply":
      return expect(
        out
          .trim()
          .split("\n")
          .every((l) => /^\w+\.lanemesh\.io\/\S+ (created|configured|unchanged)$/.test(l)),
        "kind.lanemesh.io/name created|configured|unchanged lines",
      );
    case "delete":
      return expect(/ deleted$/m.test(out), "… deleted");
    case "explain":
      return expect(/^route\s/m.test(out), "route …");
    case "status":
      return expect(
        /^window \d+s, proxies reporting: \d+$/m.test(out) &&
          /^LANE \S+ \(tag \S+\): /m.test(out) &&
          /^\s+APP\s+INSTANCES\s+REQ\/S /m.test(out),
        "window …, LANE … and the APP INSTANCES REQ/S … table",
      );
    case "validate":
      return expect(/^\d+ resources valid$/m.test(out), "N resources valid");
    case "version":
      return expect(/^client: \S+\nserver: \S+/.test(out), "client: … server: …");
    case "install":
      return expect(
        /^apiVersion: \S+\nkind: \S+/m.test(out) && /^---$/m.test(out),
        "Kubernetes manifests (YAML documents for kubectl apply)",
      );
    default:
      return `no expected shape for lanemesh ${verb}: add one to test/e2e/docs-commands.test.ts`;
  }
}

function curl(args: string[]): Promise<CliResult> {
  const headers: Record<string, string> = {};
  let url: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === "-H") {
      const [k, ...v] = (args[++i] ?? "").split(":");
      headers[(k ?? "").trim()] = v.join(":").trim();
    } else if (a === "-s" || a === "-sS") continue;
    else if (a.startsWith("-")) throw new Error(`curl ${a}: not understood by this test`);
    else url = a;
  }
  if (url === undefined) throw new Error("curl without a URL");
  const target = url;
  return new Promise((resolve) => {
    const req = request(target, { headers }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      res.on("end", () => resolve({ code: 0, stdout: body, stderr: "" }));
    });
    req.on("error", (err) => resolve({ code: 7, stdout: "", stderr: err.message }));
    req.end();
  });
}

describe("every command the README, examples/, docs/ and the demo print, run as printed", () => {
  // A HOME and context file of the test's own: the user's are never read or written.
  const home = mkdtempSync(join(tmpdir(), "lanemesh-commands-home-"));
  const own = { HOME: home, LANEMESH_CONFIG: join(home, "lanemesh-config") };
  const env: NodeJS.ProcessEnv = { ...own };
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("LANEMESH_") && k !== "HOME") env[k] = v;
  const lanemesh = (args: string[]): Promise<CliResult> => runCli(args, own, REPO);
  let demo: ChildProcess;
  let stdout = "";
  let gateway = 0;

  before(async () => {
    [gateway] = (await freePorts(1)) as [number];
    demo = spawn(
      process.execPath,
      [CLI, "demo", "--port", String(gateway), "--grpc-port", "0", "--http-port", "0"],
      { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    demo.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`demo not up in 90 s:\n${stdout}\n${stderr}`)),
        90_000,
      );
      demo.stdout?.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
        if (/^Try this/m.test(stdout) && /\(in a clone/.test(stdout)) {
          clearTimeout(timer);
          resolve();
        }
      });
      demo.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`demo exited (${code}):\n${stdout}\n${stderr}`));
      });
    });
  });

  after(async () => {
    if (demo && demo.exitCode === null && demo.signalCode === null) {
      const exited = new Promise((r) => demo.once("exit", r));
      demo.kill("SIGINT");
      await exited;
    }
    rmSync(home, { recursive: true, force: true });
  });

  /** Back to the scenario the pages start from (content mode, gray open). */
  const reset = async (): Promise<void> => {
    const r = await lanemesh([
      "apply",
      "-f",
      "examples/mall-routes.yaml",
      "-f",
      "examples/mall-content.yaml",
    ]);
    assert.equal(r.code, 0, r.stderr);
  };

  const runAll = async (printed: Printed[]): Promise<{ ran: number; skipped: string[] }> => {
    await reset();
    const problems: string[] = [];
    const skipped: string[] = [];
    let ran = 0;
    for (const p of printed) {
      if (LONG_RUNNING.test(p.line)) {
        skipped.push(p.line);
        continue;
      }
      const { argv, comment } = words(p.line.replaceAll("127.0.0.1:8080", `127.0.0.1:${gateway}`));
      const wantCode = Number(/^exit (\d+)/.exec(comment)?.[1] ?? 0);
      const r = argv[0] === "curl" ? await curl(argv.slice(1)) : await lanemesh(argv.slice(1));
      ran++;
      const out = `${r.stdout}${r.stderr}`;
      const problem =
        r.code !== wantCode
          ? `exit ${r.code}, expected ${wantCode}`
          : p.output !== null
            ? outputProblem(p.output, out)
            : shapeProblem(argv, r.stdout);
      if (problem !== null)
        problems.push(
          `${p.where}: ${p.line}\n  ${problem}\n  output:\n${out.replace(/^/gm, "    ")}`,
        );
    }
    assert.deepEqual(problems, [], problems.join("\n"));
    return { ran, skipped };
  };

  it("the README's commands", async (t) => {
    const printed = fromMarkdown("README.md", false);
    const { ran, skipped } = await runAll(printed);
    t.diagnostic(`ran ${ran}, skipped ${skipped.length} (long-running)`);
    assert.ok(ran >= 10, `only ${ran} commands found in README.md`);
    for (const must of [
      "lanemesh get lanes",
      "lanemesh describe lane gray",
      "lanemesh apply -f examples/mall-gray-closed.yaml",
      "lanemesh version",
    ])
      assert.ok(
        printed.some((p) => p.line.startsWith(must)),
        `README.md does not show ${must}`,
      );
  });

  it("examples/: the README's commands and the files' own comments", async () => {
    const { ran, skipped } = await runAll([
      ...fromMarkdown("examples/README.md", false),
      ...fromExamples(),
    ]);
    assert.ok(ran >= 10, `only ${ran} commands found in examples/`);
    assert.ok(
      skipped.every((l) => l.startsWith("lanemesh demo")),
      skipped.join("\n"),
    );
  });

  it("docs/: every `$ ` line", async () => {
    const pages = readdirSync(join(REPO, "docs"))
      .filter((f) => f.endsWith(".md"))
      .sort();
    const { ran } = await runAll(pages.flatMap((f) => fromMarkdown(`docs/${f}`, true)));
    assert.ok(ran >= 3, `only ${ran} commands found in docs/`);
  });

  it("the demo's own hints, with no --server: the context file finds the demo", async () => {
    const hints = stdout
      .slice(stdout.indexOf("Try this"))
      .split("\n")
      .map((l) => l.trim())
      .filter((l) => /^(lanemesh|curl) /.test(l))
      .map((line) => ({ where: "the demo's hints", line, output: null }));
    assert.ok(hints.length >= 10, stdout);
    assert.ok(
      hints.every((h) => !h.line.includes("--server")),
      "hints need no --server",
    );
    // The hints name the demo's real ports: nothing to substitute.
    assert.ok(hints.some((h) => h.line.includes(`127.0.0.1:${gateway}/a`)));
    await runAll(hints);
  });

  it("after Ctrl-C: exit 0, no temporary folder and no context left", async () => {
    const logs = /their logs and pids are in (\S+)/.exec(stdout)?.[1];
    assert.ok(logs);
    assert.ok(existsSync(env.LANEMESH_CONFIG as string));
    const exited = new Promise<number | null>((r) => demo.once("exit", (code) => r(code)));
    demo.kill("SIGINT");
    assert.equal(await exited, 0);
    assert.equal(existsSync(dirname(logs)), false, `${dirname(logs)} left behind`);
    assert.equal(existsSync(env.LANEMESH_CONFIG as string), false, "the context file is removed");
  });
});
