// The HTTP API's door over real HTTP on 127.0.0.1: a browser's cross-site POST, a POST without or with a wrong token, a body that is not JSON or YAML, each refused with nothing changed; reads open on loopback only.
import assert from "node:assert/strict";
import type { IncomingMessage } from "node:http";
import { test } from "node:test";
import { refusal, sameOrigin } from "../../src/control-plane/http-guard.js";
import { admin, docs, startCp } from "../helpers/control-plane.js";
import { route, tempDir } from "../helpers/sync-fixtures.js";

const EVIL = JSON.stringify([route("evil", "/evil", "sc-x")]);

test("changes need the admin token, a JSON or YAML body and no foreign origin: 401, 403 or 415 and nothing changed", async (t) => {
  const dir = tempDir("cp-guard");
  const cp = await startCp(dir.path);
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const version = cp.controlPlane.version();
  const post = (headers: Record<string, string>, body = EVIL, method = "POST") =>
    fetch(`${cp.url}/v1/resources`, { method, headers, body });
  const auth = { authorization: `Bearer ${cp.adminToken}` };
  const attempts: [string, Promise<Response>, number, string][] = [
    [
      "a browser page's cross-site text/plain POST (a CSRF form)",
      post({
        "content-type": "text/plain",
        origin: "http://evil.example",
        "sec-fetch-site": "cross-site",
      }),
      403,
      "LANEMESH_CROSS_ORIGIN",
    ],
    [
      "the same with the token (a page cannot have it, but the origin alone refuses)",
      post({ ...auth, "content-type": "application/json", origin: "http://evil.example" }),
      403,
      "LANEMESH_CROSS_ORIGIN",
    ],
    [
      "a page on another port of this host",
      post({ ...auth, "content-type": "application/json", origin: "http://127.0.0.1:3000" }),
      403,
      "LANEMESH_CROSS_ORIGIN",
    ],
    [
      "Sec-Fetch-Site: cross-site without Origin",
      post({ ...auth, "content-type": "application/json", "sec-fetch-site": "cross-site" }),
      403,
      "LANEMESH_CROSS_ORIGIN",
    ],
    [
      "a JSON POST without a token",
      post({ "content-type": "application/json" }),
      401,
      "LANEMESH_UNAUTHORIZED",
    ],
    [
      "a wrong token",
      post({ authorization: "Bearer nope", "content-type": "application/json" }),
      401,
      "LANEMESH_UNAUTHORIZED",
    ],
    [
      "text/plain with the token",
      post({ ...auth, "content-type": "text/plain" }),
      415,
      "LANEMESH_UNSUPPORTED_MEDIA_TYPE",
    ],
    [
      "a form with the token",
      post({ ...auth, "content-type": "application/x-www-form-urlencoded" }),
      415,
      "LANEMESH_UNSUPPORTED_MEDIA_TYPE",
    ],
    ["no content type", post({ ...auth }), 415, "LANEMESH_UNSUPPORTED_MEDIA_TYPE"],
    [
      "a DELETE without a token",
      fetch(`${cp.url}/v1/resources/routes/a-route`, { method: "DELETE" }),
      401,
      "LANEMESH_UNAUTHORIZED",
    ],
    [
      "a token request without the admin token",
      fetch(`${cp.url}/v1/tokens`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ role: "sidecar", services: ["sc-a"] }),
      }),
      401,
      "LANEMESH_UNAUTHORIZED",
    ],
  ];
  for (const [what, response, status, code] of attempts) {
    const res = await response;
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, status, `${what}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, code, what);
    if (status === 401)
      assert.equal(res.headers.get("www-authenticate"), 'Bearer realm="lanemesh"');
  }
  assert.equal(cp.controlPlane.version(), version, "the version did not move");
  assert.equal(cp.controlPlane.get("routes", "evil"), undefined, "the route is absent");

  // The same request with the token, as JSON or YAML, from no browser: applied.
  const yaml = await post(
    { ...auth, "content-type": "application/yaml; charset=utf-8" },
    "apiVersion: lanemesh.io/v1alpha1\nkind: Route\nmetadata: { name: ok }\nspec: { gateway: default, match: { prefix: /ok }, service: sc-ok }\n",
  );
  assert.equal(yaml.status, 200, await yaml.text());
  assert.ok((await admin(cp, "POST", "v1/resources", docs([route("ok2", "/ok2", "sc-ok")]))).ok);
  // A same-origin Origin header (a page served by the API itself, were there one) is not foreign.
  const same = await post({
    ...auth,
    "content-type": "application/json",
    origin: cp.url,
  });
  assert.equal(same.status, 200, await same.text());
  // Reads stay open on loopback.
  assert.equal((await fetch(`${cp.url}/v1/resources/routes`)).status, 200);
});

test("reads need the token too when the API listens beyond loopback; /healthz and /metrics never do", () => {
  const req = (method: string, headers: Record<string, string> = {}) =>
    ({ method, headers: { host: "10.0.0.1:15014", ...headers } }) as unknown as IncomingMessage;
  const opts = { adminToken: "s3cret", readsOpen: false };
  assert.equal(refusal(req("GET"), "/v1/resources/lanes", opts)?.status, 401);
  assert.equal(
    refusal(req("GET", { authorization: "Bearer s3cret" }), "/v1/resources/lanes", opts),
    null,
  );
  assert.equal(refusal(req("GET"), "/healthz", opts), null);
  assert.equal(refusal(req("GET"), "/metrics", opts), null);
  assert.equal(refusal(req("GET"), "/v1/proxies", { ...opts, readsOpen: true }), null);
  assert.equal(
    refusal(req("GET", { origin: "http://10.0.0.1:15014" }), "/v1/proxies", {
      ...opts,
      readsOpen: true,
    }),
    null,
    "its own origin",
  );
});

test("the web console: its files are open wherever the API listens (they hold no data); its own same-origin requests pass, over http or https with the very Host, and no other origin does", () => {
  const req = (method: string, headers: Record<string, string> = {}) =>
    ({ method, headers: { host: "10.0.0.1:15014", ...headers } }) as unknown as IncomingMessage;
  const opts = { adminToken: "s3cret", readsOpen: false };
  for (const path of ["/ui", "/ui/console.js", "/ui/console.css"])
    assert.equal(refusal(req("GET"), path, opts), null, path);
  // ...but not what the page reads: that needs the token off loopback.
  assert.equal(refusal(req("GET"), "/v1/status", opts)?.status, 401);
  assert.equal(refusal(req("GET"), "/ui/other", opts)?.status, 401);
  // The console's apply: same origin (Chromium sends Origin on a POST), with the token.
  const apply = {
    authorization: "Bearer s3cret",
    "content-type": "application/json",
    "sec-fetch-site": "same-origin",
  };
  for (const origin of ["http://10.0.0.1:15014", "https://10.0.0.1:15014", "HTTP://10.0.0.1:15014"])
    assert.equal(refusal(req("POST", { ...apply, origin }), "/v1/resources", opts), null, origin);
  assert.equal(
    refusal(
      req("POST", { "content-type": "application/json", origin: "http://10.0.0.1:15014" }),
      "/v1/resources",
      opts,
    )?.code,
    "LANEMESH_UNAUTHORIZED",
    "same origin without the token: 401",
  );
  for (const origin of [
    "http://10.0.0.1:8080",
    "https://10.0.0.1",
    "http://10.0.0.1:15014.evil.example",
    "http://evil.example",
    "null",
  ])
    assert.equal(
      refusal(req("POST", { ...apply, origin }), "/v1/resources", opts)?.code,
      "LANEMESH_CROSS_ORIGIN",
      origin,
    );
  assert.equal(
    refusal(req("GET", { origin: "http://evil.example" }), "/ui", opts)?.code,
    "LANEMESH_CROSS_ORIGIN",
  );
  assert.equal(sameOrigin("http://10.0.0.1:15014", undefined), false);
  assert.equal(sameOrigin("http://", ""), false);
});
