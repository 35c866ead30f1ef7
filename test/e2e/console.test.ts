// Issue 13's must-shows 3 and 5 in Debian's Chromium against a running `lanemesh demo` (content mode, gray and base traffic): /ui shows the three applications, the gray lane and per-tag traffic on the edges; closing the lane without the admin token is refused and changes nothing, with the token typed in a click closes it and the next gray request reaches base. LANEMESH_CONSOLE_SCREENSHOT=FILE saves the console's picture (docs/console.png).
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { Page } from "playwright-core";
import { callServer } from "../../src/control-plane/api-client.js";
import { runDemo } from "../../src/demo/orchestrator.js";
import { CANARY_HEADER, DEMO_PATH } from "../../src/demo/topology.js";
import { httpGet } from "../../src/demo/wait.js";
import { type Browser, launchChromium, requireChromium } from "../helpers/browser.js";
import { chainOf, type Load, pollFor, startLoad } from "../helpers/control-plane-procs.js";
import { freePorts } from "../helpers/procs.js";

const GRAY = { [CANARY_HEADER.name]: CANARY_HEADER.value };
/** The chain of a request that took base everywhere: A, B and C, no gray version. */
const BASE_CHAIN =
  /^A\[127\.0\.0\.1:\d+\]\[config=base\] -> B\[127\.0\.0\.1:\d+\] -> C\[127\.0\.0\.1:\d+\]$/;
/** Generous: a loaded 2-core machine runs 12 processes, a browser and the test. */
const SEE_MS = 90_000;

/** Requests/s in an edge's label (`gray → gray: 1.25/s`). */
function rpsIn(text: string | null): number {
  const m = /: ([\d.]+)\/s/.exec(text ?? "");
  return m?.[1] === undefined ? 0 : Number(m[1]);
}

/** Wait until the console shows `selector` with a text whose rate is above 0. */
async function flowing(page: Page, selector: string): Promise<string> {
  return pollFor(
    `${selector} with traffic on the page`,
    SEE_MS,
    async () => {
      const texts = await page.locator(selector).allTextContents();
      return texts.find((t) => rpsIn(t) > 0 || /fell back/.test(t));
    },
    250,
  );
}

interface Running {
  server: string;
  adminToken: string;
  gatewayPort: number;
}

describe("the web console in Chromium against a running demo", { timeout: 420_000 }, () => {
  const stop = new AbortController();
  let demo: Promise<number> | undefined;
  let load: Load | undefined;
  let browser: Browser | undefined;
  let printed = "";
  after(async () => {
    await load?.stop();
    await browser?.close();
    stop.abort();
    await demo;
  });

  it("shows apps, the gray lane and per-tag edges; a close without the token is refused and changes nothing; with it a click closes the lane and gray goes to base", async (t) => {
    requireChromium(); // fails, naming the package, before starting anything
    const [gatewayPort] = await freePorts(1);
    assert.ok(gatewayPort);
    let announced: (r: Running) => void = () => {};
    const up = new Promise<Running>((resolve) => {
      announced = resolve;
    });
    demo = runDemo({
      gatewayPort,
      grpcPort: { port: 0, given: true },
      httpPort: { port: 0, given: true },
      mode: "content",
      weight: null,
      check: null,
      basePort: null,
      announce: (server, _grpc, adminToken) => {
        announced({ server, adminToken, gatewayPort });
        return { ok: true, line: "" };
      },
      signal: stop.signal,
      out: (s) => {
        printed += s;
      },
      err: (s) => {
        printed += s;
      },
      startTimeoutMs: 120_000,
      // Reports twice a second, so the console has numbers within a refresh or two.
      adjustPlan: (plan) => ({
        ...plan,
        proxies: plan.proxies.map((p) => ({
          ...p,
          args: [...p.args, "--report-interval", "500ms"],
        })),
      }),
    });
    const exitedEarly = demo.then((code) => {
      throw new Error(`the demo exited (${code}) before it was up:\n${printed}`);
    });
    const { server, adminToken } = await Promise.race([up, exitedEarly]);
    const gateway = `http://127.0.0.1:${gatewayPort}${DEMO_PATH}`;
    load = startLoad(gatewayPort, 2, 50); // one gray loop, one base loop

    browser = await launchChromium();
    const page = await browser.context.newPage();
    const problems: string[] = [];
    page.on("console", (m) => {
      // The refused apply below is logged by Chromium as a failed load: expected, asserted.
      const refusedApply = / 401 /.test(m.text()) && m.location().url.endsWith("/v1/resources");
      if (m.type() === "error" && !refusedApply) problems.push(`${m.text()} (${m.location().url})`);
    });
    page.on("pageerror", (e) => problems.push(e.message));
    const applies: number[] = [];
    page.on("response", (r) => {
      if (r.request().method() === "POST" && new URL(r.url()).pathname === "/v1/resources")
        applies.push(r.status());
    });

    const res = await page.goto(`${server}/ui`);
    assert.equal(res?.status(), 200);
    assert.match(res?.headers()["content-security-policy"] ?? "", /default-src 'self'/);
    assert.equal(res?.headers()["x-content-type-options"], "nosniff");

    // The three applications, with their instances per tag.
    const group = page.locator('section[data-group="mall"]');
    for (const app of ["sc-a", "sc-b", "sc-c"])
      await group.locator(`svg [data-app="${app}"]`).waitFor({ timeout: SEE_MS });
    assert.match(
      (await group.locator('svg [data-app="sc-a"] .instances').textContent()) ?? "",
      /base ×1\s+gray ×1/,
    );
    assert.match(
      (await group.locator('svg [data-app="sc-b"] .instances').textContent()) ?? "",
      /^base ×1$/,
    );
    // The gray lane, open, with its rule.
    const row = group.locator('tr[data-lane="gray"]');
    await row.waitFor({ timeout: SEE_MS });
    assert.equal(await row.getAttribute("data-enabled"), "true");
    assert.match((await row.textContent()) ?? "", /header canary == gray/);

    // Per-tag traffic on the edges: gray flows A gray → B (base, a fallback) → C gray.
    const seen = {
      entryGray: await flowing(
        page,
        '[data-edge="gateway:default->sc-a"] text.flow.lane[data-tag="gray"]',
      ),
      entryBase: await flowing(
        page,
        '[data-edge="gateway:default->sc-a"] text.flow.base[data-tag="base"]',
      ),
      grayToB: await flowing(
        page,
        '[data-edge="sc-a->sc-b"] text.flow.lane-on-base[data-from-tag="gray"][data-tag="base"]',
      ),
      fellBack: await flowing(page, '[data-edge="sc-a->sc-b"] text.fallback[data-from-tag="gray"]'),
      bToCGray: await flowing(page, '[data-edge="sc-b->sc-c"] text.flow.lane[data-tag="gray"]'),
      bToCBase: await flowing(page, '[data-edge="sc-b->sc-c"] text.flow.base[data-tag="base"]'),
    };
    t.diagnostic(`edges seen: ${JSON.stringify(seen)}`);
    // The side-by-side table: A's gray and base both have traffic.
    await pollFor(
      "A's gray and base req/s in the table",
      SEE_MS,
      async () => {
        const cells = await group
          .locator('table.sides[data-lane="gray"] tr[data-app="sc-a"] td.num')
          .allTextContents();
        return Number(cells[0]) > 0 && Number(cells[1]) > 0 ? cells : undefined;
      },
      250,
    );

    const shot = process.env.LANEMESH_CONSOLE_SCREENSHOT;
    if (shot) await page.screenshot({ path: shot });

    // No token: the click is refused (401 from the API, shown), and nothing changed.
    const read = async (path: string): Promise<unknown> => {
      const r = await callServer(server, "GET", path, undefined, {});
      assert.ok(r.ok, `GET ${path}: ${r.ok ? "" : r.message}`);
      return r.body;
    };
    const version = async () => ((await read("v1/config")) as { version: string }).version;
    const enabled = async () =>
      ((await read("v1/resources/lanes/gray")) as { spec: { enabled?: boolean } }).spec.enabled;
    const before = await version();
    await row.locator('button[data-action="toggle"]').click();
    const message = page.locator("#message");
    await page.locator('#message[data-kind="error"]').waitFor({ timeout: 30_000 });
    const refused = (await message.textContent()) ?? "";
    assert.match(refused, /Refused, nothing changed: HTTP 401 LANEMESH_UNAUTHORIZED/);
    assert.deepEqual(applies, [401], "the page's same-origin POST reached the token check");
    assert.equal(await version(), before, "no new config version");
    assert.equal(await enabled(), true);
    const stillGray = await httpGet(gateway, GRAY);
    assert.equal(
      chainOf(stillGray?.body ?? ""),
      "gray",
      `the next gray request: ${stillGray?.body}`,
    );
    assert.equal(await row.getAttribute("data-enabled"), "true");

    // The token typed in (kept in this tab's sessionStorage only): the click closes the lane.
    await page.fill("#token", adminToken);
    await page.click("#token-use");
    await page.locator("#token-state", { hasText: "token set" }).waitFor({ timeout: 10_000 });
    // A string: this test is compiled without the DOM's types.
    const storage = await page.evaluate(
      "({ session: sessionStorage.getItem('lanemesh.adminToken'), local: localStorage.length, cookies: document.cookie })",
    );
    assert.deepEqual(storage, { session: adminToken, local: 0, cookies: "" });
    await row.locator('button[data-action="toggle"]:not([disabled])').click();
    await page.locator('#message[data-kind="ok"]').waitFor({ timeout: 30_000 });
    assert.match((await message.textContent()) ?? "", /Lane gray closed: applied \(version \d+\)/);
    assert.deepEqual(applies, [401, 200]);
    assert.equal(await enabled(), false);
    // The next gray request reaches base everywhere (once the proxies hold the new version).
    const body = await pollFor("a gray request answered by base A, B and C", 30_000, async () => {
      const r = await httpGet(gateway, GRAY);
      return r !== null && BASE_CHAIN.test(r.body.trim()) ? r.body.trim() : undefined;
    });
    assert.doesNotMatch(body, /gray/);
    await page
      .locator('section[data-group="mall"] tr[data-lane="gray"][data-enabled="false"]')
      .waitFor({ timeout: 30_000 });
    assert.match((await row.textContent()) ?? "", /closed/);
    assert.deepEqual(problems, [], "no error in the page (a CSP violation would be one)");
  });
});
