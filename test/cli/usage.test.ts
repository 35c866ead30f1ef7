// What a user meets at the edges of the CLI: unknown flags named, impossible values refused, empty files refused, explain's many files, closed lanes and unmatched paths; the built CLI as a child process.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO, runCli } from "../helpers/procs.js";

const fixture = (name: string): string => join(REPO, "test/fixtures/cli", name);
const example = (name: string): string => join(REPO, "examples", name);

describe("flags", () => {
  it("an unknown flag is named before any missing required one", async () => {
    const r = await runCli(["sidecar", "--bogus"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: unknown option '--bogus'$/m);
    assert.doesNotMatch(r.stderr, /required option/);
    assert.match(r.stderr, /\(add --help for the command's flags\)/);
  });

  it("a missing required flag is still named when nothing else is wrong", async () => {
    const r = await runCli(["sidecar", "--app-port", "8081"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^error: required option '--app <NAME>' not specified$/m);
    const env = await runCli(["sidecar", "--app-port", "8081", "--bogus"], { LANEMESH_APP: "x" });
    assert.match(env.stderr, /unknown option '--bogus'/);
  });

  it("--app-port 0 is refused: the app's port is dialed, not bound", async () => {
    const r = await runCli(["sidecar", "--app", "sc-a", "--app-port", "0"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--app-port <N>' argument '0' is invalid\. .*1\.\.65535/);
    const env = await runCli(["sidecar", "--app", "sc-a"], { LANEMESH_APP_PORT: "0" });
    assert.equal(env.code, 1);
    assert.match(env.stderr, /'0' from env 'LANEMESH_APP_PORT' is invalid/);
  });

  it("lanemesh demo --base-port inside the ephemeral range is refused before anything starts", async () => {
    const r = await runCli(["demo", "--base-port", "40100", "--port", "0"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /^error: --base-port 40100: .*ephemeral port range/);
    const help = await runCli(["demo", "--help"]);
    assert.match(help.stdout.replace(/\s+/g, " "), /below the kernel's ephemeral port range/);
  });
});

describe("empty input", () => {
  for (const verb of ["validate", "apply"])
    it(`${verb} -f /dev/null says there is nothing to ${verb}, exit 1`, async () => {
      const r = await runCli([verb, "-f", "/dev/null"], { LANEMESH_SERVER: "http://127.0.0.1:1" });
      assert.equal(r.code, 1);
      assert.equal(r.stdout, "");
      assert.equal(r.stderr, `error: nothing to ${verb}: no resource documents in /dev/null\n`);
    });
});

describe("explain", () => {
  it("-f takes several files, as validate and apply do: the last argument is the path", async () => {
    const [many, repeated, after] = await Promise.all([
      runCli(["explain", "-f", fixture("mall.yaml"), fixture("lane-canary.yaml"), "/a"]),
      runCli(["explain", "-f", fixture("mall.yaml"), "-f", fixture("lane-canary.yaml"), "/a"]),
      runCli(["explain", "/a", "-f", fixture("mall.yaml"), fixture("lane-canary.yaml")]),
    ]);
    for (const r of [many, repeated, after]) {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^route\s+a-route -> service sc-a$/m);
    }
    assert.equal(many.stdout, repeated.stdout);
    assert.equal(many.stdout, after.stdout);
  });

  it("a closed lane that would take the request is named, text and JSON", async () => {
    const args = [
      "explain",
      "-f",
      fixture("mall.yaml"),
      fixture("lane-closed.yaml"),
      "--endpoints",
      fixture("endpoints.yaml"),
      "-H",
      "canary: gray",
    ];
    const [text, json, other] = await Promise.all([
      runCli([...args, "/a"]),
      runCli([...args, "--json", "/a"]),
      runCli([...args.slice(0, -2), "-H", "canary: blue", "--json", "/a"]),
    ]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^lane\s+none \(base\): Lane\/gray matches this request but is closed \(enabled: false\)$/m,
    );
    assert.match(text.stdout, /^tag\s+none \(base\)$/m);
    const j = JSON.parse(json.stdout) as { tag: unknown; closedLane: unknown };
    assert.equal(j.tag, null);
    assert.equal(j.closedLane, "gray");
    assert.equal(
      (JSON.parse(other.stdout) as { closedLane: unknown }).closedLane,
      null,
      "a request the closed lane would not take either names no lane",
    );
  });

  it("a path no route matches: 404 at the gateway, and no picks listed", async () => {
    const r = await runCli([
      "explain",
      "-f",
      example("mall-routes.yaml"),
      example("mall-content.yaml"),
      "--endpoints",
      fixture("endpoints.yaml"),
      "/nowhere",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^route\s+none: no route of gateway default matches \/nowhere/m);
    assert.doesNotMatch(r.stdout, /picks/);
    const json = await runCli([
      "explain",
      "-f",
      example("mall-routes.yaml"),
      "--endpoints",
      fixture("endpoints.yaml"),
      "--json",
      "/nowhere",
    ]);
    const j = JSON.parse(json.stdout) as { picks: unknown; fallback: unknown };
    assert.equal(j.picks, null);
    assert.equal(j.fallback, null);
  });
});
