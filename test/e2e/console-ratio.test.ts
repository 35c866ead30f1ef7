// The web console in Debian's Chromium against a control plane listening beyond loopback, with the ratio example applied and its gray lane closed by its guard: the page asks for the token before it shows anything, shows the guard and why it closed the lane, a weight the validator refuses is shown as `lanemesh validate` prints it and changes nothing, a valid one applies, a click reopens the lane; a page of another origin holding the token changes nothing.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { callServer } from "../../src/control-plane/api-client.js";
import { TRIPS_FILE } from "../../src/control-plane/guard-keeper.js";
import type { RunningControlPlane } from "../../src/control-plane/start.js";
import { loadScenario } from "../../src/demo/scenario.js";
import { type Browser, launchChromium, requireChromium } from "../helpers/browser.js";
import { startCp } from "../helpers/control-plane.js";
import { tempDir } from "../helpers/sync-fixtures.js";

describe("the web console off loopback, ratio mode", { timeout: 180_000 }, () => {
  const dir = tempDir("cp-console-ratio");
  let cp: RunningControlPlane | undefined;
  let browser: Browser | undefined;
  let other: Server | undefined;
  after(async () => {
    await browser?.close();
    other?.close();
    await cp?.close();
    dir.remove();
  });

  it("asks for the token to read; a refused weight is shown with its field and changes nothing; a valid one applies; another origin's page cannot apply", async () => {
    requireChromium();
    // 0.0.0.0: reads need the token too (the console's files do not).
    // The ratio example with a guard on the gray lane, which its guard has closed: applied
    // closed, and the trip the control plane keeps across restarts (guard-trips.json) written
    // before it starts again, as if it had closed the lane itself.
    const scenario = loadScenario("ratio", null);
    assert.ok(scenario.ok);
    const documents = scenario.docs.map((d) => {
      const v = d.value as { kind: string; spec: Record<string, unknown> };
      const value =
        v.kind === "Lane"
          ? {
              ...v,
              spec: { ...v.spec, enabled: false, guard: { maxErrorRate: 0.05, minRequests: 20 } },
            }
          : v;
      return { file: d.origin.file, doc: d.origin.doc, value };
    });
    const first = await startCp(dir.path, 1, 35, { bind: "0.0.0.0" });
    const applied = await callServer(
      `http://127.0.0.1:${first.httpPort}`,
      "POST",
      "v1/resources",
      { documents },
      { token: first.adminToken },
    );
    await first.close();
    assert.ok(applied.ok, applied.ok ? "" : applied.message);
    const side = (requests: number, errors: number) => ({
      requests,
      errors,
      errorRate: errors / requests,
      rps: requests / 30,
      p50Ms: 3,
      p99Ms: 9,
      fallbacks: 0,
    });
    const reason = "sc-c: lane gray error rate 50.0% > maxErrorRate 5.0% (base 0.0%) over 30s";
    writeFileSync(
      join(dir.path, TRIPS_FILE),
      JSON.stringify({
        gray: {
          closedAt: "2026-12-01T10:00:00.000Z",
          closedAtMs: 0,
          version: 2,
          app: "sc-c",
          reason,
          lane: side(40, 20),
          base: side(40, 0),
        },
      }),
    );
    // 0.0.0.0: reads need the token too (the console's files do not).
    cp = await startCp(dir.path, 1, 35, { bind: "0.0.0.0" });
    const api = `http://127.0.0.1:${cp.httpPort}`;
    const token = cp.adminToken;
    const lane = async () => {
      const r = await callServer(api, "GET", "v1/resources/lanes/gray", undefined, { token });
      assert.ok(r.ok, r.ok ? "" : r.message);
      return (r.body as { spec: { weight: number; enabled: boolean } }).spec;
    };
    const version = () => cp?.controlPlane.version();

    browser = await launchChromium();
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${api}/ui`);
    await page
      .locator("#summary", { hasText: "need the admin token" })
      .waitFor({ timeout: 30_000 });
    assert.equal(await page.locator("section[data-group]").count(), 0, "nothing shown yet");

    await page.fill("#token", token);
    await page.click("#token-use");
    const row = page.locator('section[data-group="mall"] tr[data-lane="gray"]');
    await row.waitFor({ timeout: 30_000 });
    const shown = (await row.textContent()) ?? "";
    assert.match(shown, /weight 30 %/);
    assert.equal(await row.getAttribute("data-enabled"), "false");
    assert.match(shown, /errors ≤ 5\.0 % \(over 30s, ≥ 20 requests\)/, "the guard");
    assert.ok(shown.includes(`2026-12-01T10:00:00.000Z: ${reason}`), `the trip's reason: ${shown}`);

    // Refused by the validator: the errors as the API gives them, nothing changed.
    const before = version();
    await page.fill('input[data-weight="gray"]', "150");
    await page.click('tr[data-lane="gray"] button[data-action="weight"]');
    await page.locator('#message[data-kind="error"]').waitFor({ timeout: 30_000 });
    const refused = (await page.locator("#message").textContent()) ?? "";
    assert.match(
      refused,
      /^Refused, nothing changed:\nconsole: document 1 \(Lane\/gray\): spec\.weight: /,
    );
    assert.equal(version(), before);
    assert.equal((await lane()).weight, 30);

    // A valid weight applies.
    await page.fill('input[data-weight="gray"]', "40");
    await page.click('tr[data-lane="gray"] button[data-action="weight"]:not([disabled])');
    await page.locator('#message[data-kind="ok"]').waitFor({ timeout: 30_000 });
    assert.match(
      (await page.locator("#message").textContent()) ?? "",
      /Lane gray weight 40: applied \(version \d+\)/,
    );
    assert.equal((await lane()).weight, 40);
    await page
      .locator('section[data-group="mall"] tr[data-lane="gray"]', { hasText: "weight 40 %" })
      .waitFor({ timeout: 30_000 });

    // Opening the lane its guard closed: the user's decision; the trip is gone with it.
    await page.click('tr[data-lane="gray"] button[data-action="toggle"]:not([disabled])');
    await page
      .locator("#message", { hasText: "Lane gray opened: applied" })
      .waitFor({ timeout: 30_000 });
    assert.equal((await lane()).enabled, true);
    await page
      .locator('section[data-group="mall"] tr[data-lane="gray"][data-enabled="true"]')
      .waitFor({ timeout: 30_000 });
    assert.doesNotMatch((await row.textContent()) ?? "", /maxErrorRate 5\.0%/);
    // Forget: the token leaves the tab, and what it let the page read goes with it.
    await page.click("#token-forget");
    await page
      .locator("#summary", { hasText: "need the admin token" })
      .waitFor({ timeout: 30_000 });
    assert.equal(await page.locator("section[data-group]").count(), 0);
    assert.equal(await page.evaluate("sessionStorage.length"), 0);

    // A page of another origin (another port of this host) that somehow holds the token: its
    // fetch is refused at the preflight, its simple POST with 403; nothing changes.
    other = createServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<!doctype html><title>elsewhere</title>");
    });
    await new Promise<void>((resolve) => other?.listen(0, "127.0.0.1", resolve));
    const elsewhere = await browser.context.newPage();
    await elsewhere.goto(`http://127.0.0.1:${(other.address() as AddressInfo).port}/`);
    const evil = JSON.stringify([
      {
        apiVersion: "lanemesh.io/v1alpha1",
        kind: "Route",
        metadata: { name: "evil" },
        spec: { gateway: "default", match: { prefix: "/evil" }, service: "sc-x" },
      },
    ]);
    const target = JSON.stringify(`${api}/v1/resources`);
    const beforeOther = version();
    const results = await elsewhere.evaluate(
      `(async () => {
        const out = [];
        try {
          const r = await fetch(${target}, { method: "POST", body: ${JSON.stringify(evil)},
            headers: { "content-type": "application/json", authorization: "Bearer ${token}" } });
          out.push("cors " + r.status);
        } catch (e) { out.push("cors refused"); }
        const r2 = await fetch(${target}, { method: "POST", mode: "no-cors",
          headers: { "content-type": "text/plain" }, body: ${JSON.stringify(evil)} });
        out.push("no-cors " + r2.type);
        return out;
      })()`,
    );
    assert.deepEqual(results, ["cors refused", "no-cors opaque"]);
    assert.equal(version(), beforeOther, "no new version");
    const route = await callServer(api, "GET", "v1/resources/routes/evil", undefined, { token });
    assert.equal(route.ok ? 200 : route.status, 404, "no route applied from another origin");
    assert.deepEqual(problems, []);
  });
});
