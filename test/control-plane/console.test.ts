// The web console's files over real HTTP from a control plane: served from the build with a strict Content-Security-Policy and nosniff, nothing they name lives on another origin, no other path under /ui is a file, and no method but GET/HEAD.
import assert from "node:assert/strict";
import { test } from "node:test";
import { CONSOLE_HEADERS } from "../../src/control-plane/console.js";
import { startCp } from "../helpers/control-plane.js";
import { tempDir } from "../helpers/sync-fixtures.js";

test("GET /ui, /ui/console.js and /ui/console.css: the shipped files with CSP default-src 'self' and nosniff, nothing from elsewhere", async (t) => {
  const dir = tempDir("cp-console");
  const cp = await startCp(dir.path);
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const types: Record<string, RegExp> = {
    "/ui": /^text\/html/,
    "/ui/": /^text\/html/,
    "/ui/console.js": /^text\/javascript/,
    "/ui/dom.js": /^text\/javascript/,
    "/ui/topology.js": /^text\/javascript/,
    "/ui/console.css": /^text\/css/,
    "/ui/icon.svg": /^image\/svg\+xml/,
  };
  const bodies: Record<string, string> = {};
  for (const [path, type] of Object.entries(types)) {
    const res = await fetch(`${cp.url}${path}`);
    const body = await res.text();
    assert.equal(res.status, 200, `${path}: ${body}`);
    assert.match(res.headers.get("content-type") ?? "", type, path);
    const csp = res.headers.get("content-security-policy") ?? "";
    assert.match(csp, /(^|; )default-src 'self'(;|$)/, path);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/, path);
    assert.equal(res.headers.get("x-content-type-options"), "nosniff", path);
    for (const [k, v] of Object.entries(CONSOLE_HEADERS)) assert.equal(res.headers.get(k), v, k);
    bodies[path] = body;
  }
  const html = bodies["/ui"] ?? "";
  assert.match(html, /<script type="module" src="\/ui\/console\.js"><\/script>/);
  assert.match(html, /<link rel="stylesheet" href="\/ui\/console\.css" \/>/);
  // No inline script or style (the CSP would block them anyway), no URL of another origin.
  assert.doesNotMatch(html, /<script>|<style|\sstyle=|\son[a-z]+=/i);
  for (const [path, body] of Object.entries(bodies)) {
    const urls = [...body.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s"')]*/gi)].map(
      (m) => m[0],
    );
    assert.deepEqual(
      urls.filter((u) => u !== "http://www.w3.org/2000/svg"),
      [],
      `${path} names another origin`,
    );
  }
  assert.match(bodies["/ui/console.js"] ?? "", /sessionStorage/);
  for (const js of ["/ui/console.js", "/ui/dom.js", "/ui/topology.js"])
    assert.doesNotMatch(bodies[js] ?? "", /localStorage|document\.cookie|innerHTML|eval\(/, js);

  const head = await fetch(`${cp.url}/ui/console.js`, { method: "HEAD" });
  assert.equal(head.status, 200);
  assert.equal(await head.text(), "");
  for (const path of ["/ui/index.html", "/ui/../package.json", "/ui/%2e%2e/package.json", "/ui/x"])
    assert.equal((await fetch(`${cp.url}${path}`)).status, 404, path);
  const post = await fetch(`${cp.url}/ui`, {
    method: "POST",
    headers: { authorization: `Bearer ${cp.adminToken}`, "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
});
