// Table tests of the request path's pure parts: framing checks, hop-by-hop rewriting, request targets, error responses.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { splitHostPort } from "../../src/live/service-names.js";
import { errorResponse, ProxyError } from "../../src/proxy/errors.js";
import {
  downstreamHeaders,
  type ForwardedPlan,
  hasBody,
  isIdempotent,
  upstreamHeaders,
} from "../../src/proxy/headers.js";
import { checkFraming } from "../../src/proxy/listen/edge.js";
import { splitRequestTarget } from "../../src/proxy/route.js";

describe("checkFraming", () => {
  const cases: [string, string[], string | null][] = [
    ["plain GET", ["Host", "a"], null],
    ["chunked", ["Host", "a", "Transfer-Encoding", "chunked"], null],
    ["CHUNKED (case)", ["Host", "a", "transfer-encoding", "CHUNKED"], null],
    [",chunked", ["Host", "a", "Transfer-Encoding", ",chunked"], "LANEMESH_BAD_REQUEST"],
    ["gzip, chunked", ["Host", "a", "Transfer-Encoding", "gzip, chunked"], "LANEMESH_BAD_REQUEST"],
    [
      "two TE",
      ["Transfer-Encoding", "chunked", "transfer-encoding", "chunked"],
      "LANEMESH_BAD_REQUEST",
    ],
    ["CL + TE", ["Content-Length", "5", "Transfer-Encoding", "chunked"], "LANEMESH_BAD_REQUEST"],
    ["CL alone", ["Host", "a", "Content-Length", "5"], null],
    ["two Host", ["Host", "a", "HOST", "b"], "LANEMESH_BAD_REQUEST"],
    ["3 headers, limit 3", ["a", "1", "b", "2", "c", "3"], null],
    ["4 headers, limit 3", ["a", "1", "b", "2", "c", "3", "d", "4"], "LANEMESH_HEADERS_TOO_LARGE"],
  ];
  for (const [name, raw, code] of cases) {
    it(name, () => assert.equal(checkFraming(raw, 3)?.code ?? null, code));
  }
});

describe("upstreamHeaders", () => {
  const plan: ForwardedPlan = { appendFor: null, overwriteProto: false };
  const cases: [string, string[], string | undefined, ForwardedPlan, string[]][] = [
    [
      "hop-by-hop removed, others kept in order and case",
      [
        "Host",
        "b",
        "Connection",
        "keep-alive",
        "Keep-Alive",
        "timeout=5",
        "TE",
        "trailers",
        "X-A",
        "1",
      ],
      "keep-alive",
      plan,
      ["Host", "b", "X-A", "1", "x-forwarded-proto", "http"],
    ],
    [
      "names listed by Connection removed, but never Host or Content-Length",
      [
        "Host",
        "b",
        "Content-Length",
        "1",
        "X-Secret",
        "s",
        "Connection",
        "x-secret, host, content-length",
      ],
      "x-secret, host, content-length",
      plan,
      ["Host", "b", "Content-Length", "1", "x-forwarded-proto", "http"],
    ],
    [
      "framing, upgrade, expect and proxy credentials removed",
      [
        "Transfer-Encoding",
        "chunked",
        "Upgrade",
        "websocket",
        "Expect",
        "100-continue",
        "Proxy-Authorization",
        "x",
        "Trailer",
        "t",
        "Proxy-Connection",
        "close",
        "HTTP2-Settings",
        "AA",
      ],
      undefined,
      plan,
      ["x-forwarded-proto", "http"],
    ],
    [
      "X-Forwarded-For appended, proto kept when present",
      ["X-Forwarded-For", "1.1.1.1", "x-forwarded-for", "2.2.2.2", "X-Forwarded-Proto", "https"],
      undefined,
      { appendFor: "10.0.0.9", overwriteProto: false },
      ["x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.9", "x-forwarded-proto", "https"],
    ],
    [
      "gateway: proto overwritten",
      ["X-Forwarded-Proto", "https"],
      undefined,
      { appendFor: "10.0.0.9", overwriteProto: true },
      ["x-forwarded-for", "10.0.0.9", "x-forwarded-proto", "http"],
    ],
    [
      "outbound: X-Forwarded-For passed as received",
      ["X-Forwarded-For", "1.1.1.1"],
      undefined,
      plan,
      ["x-forwarded-for", "1.1.1.1", "x-forwarded-proto", "http"],
    ],
  ];
  for (const [name, raw, connection, p, want] of cases) {
    it(name, () => assert.deepEqual(upstreamHeaders(raw, connection, p), want));
  }
});

describe("downstreamHeaders", () => {
  it("drops hop-by-hop fields and what Connection names, flattens repeated fields, keeps Trailer", () => {
    assert.deepEqual(
      downstreamHeaders({
        "content-type": "text/plain",
        "content-length": "12",
        connection: "keep-alive, x-hop",
        "keep-alive": "timeout=5",
        "transfer-encoding": "chunked",
        "x-hop": "1",
        "set-cookie": ["a=1", "b=2"],
        trailer: "x-t",
        "x-lanemesh-error": "LANEMESH_NO_ENDPOINT",
      }),
      [
        "content-type",
        "text/plain",
        "content-length",
        "12",
        "set-cookie",
        "a=1",
        "set-cookie",
        "b=2",
        "trailer",
        "x-t",
        "x-lanemesh-error",
        "LANEMESH_NO_ENDPOINT",
      ],
    );
  });
});

describe("request targets", () => {
  const hostPorts: [string, { host: string; port: number | null } | null][] = [
    ["sc-b", { host: "sc-b", port: null }],
    ["sc-b:8080", { host: "sc-b", port: 8080 }],
    ["sc-b:", { host: "sc-b", port: null }],
    ["[::1]:15006", { host: "::1", port: 15006 }],
    ["[::1]", { host: "::1", port: null }],
    ["::1", null],
    ["user@sc-b", null],
    ["sc-b:0", null],
    ["sc-b:70000", null],
    ["sc-b:8o", null],
    ["", null],
  ];
  for (const [authority, want] of hostPorts) {
    it(`splitHostPort(${JSON.stringify(authority)})`, () =>
      assert.deepEqual(splitHostPort(authority), want));
  }

  const targets: [string, string | undefined, { authority: string; path: string } | string][] = [
    ["/a?x=1", "sc-b", { authority: "sc-b", path: "/a?x=1" }],
    ["http://sc-c/p?q=1", "ignored", { authority: "sc-c", path: "/p?q=1" }],
    ["HTTP://sc-c", undefined, { authority: "sc-c", path: "/" }],
    ["http://sc-c?q", undefined, { authority: "sc-c", path: "/?q" }],
    ["/a", undefined, "LANEMESH_BAD_REQUEST"],
    ["https://sc-c/", "sc-c", "LANEMESH_BAD_REQUEST"],
    ["*", "sc-c", "LANEMESH_BAD_REQUEST"],
  ];
  for (const [url, host, want] of targets) {
    it(`splitRequestTarget(${url}, ${host})`, () => {
      const got = splitRequestTarget(url, host);
      if (typeof want === "string") assert.equal(got.ok ? null : got.error.code, want);
      else assert.deepEqual(got, { ok: true, ...want });
    });
  }
});

describe("errorResponse", () => {
  it("maps a code to its status, marks it as the proxy's and names the cause", () => {
    const r = errorResponse(
      new ProxyError("LANEMESH_NO_BASE_ENDPOINT", "no base instance of service sc-b"),
    );
    assert.equal(r.status, 503);
    assert.equal(r.body, "no base instance of service sc-b\n");
    assert.deepEqual(r.headers.slice(0, 2), ["x-lanemesh-error", "LANEMESH_NO_BASE_ENDPOINT"]);
    assert.equal(r.headers[r.headers.indexOf("content-length") + 1], String(r.body.length));
  });
  const statuses: [ConstructorParameters<typeof ProxyError>[0], number][] = [
    ["LANEMESH_NO_ROUTE", 404],
    ["LANEMESH_BAD_TAG_HEADER", 400],
    ["LANEMESH_HEADERS_TOO_LARGE", 431],
    ["LANEMESH_UPSTREAM_RESET", 502],
    ["LANEMESH_UPSTREAM_CONNECT", 503],
    ["LANEMESH_APP_UNAVAILABLE", 503],
    ["LANEMESH_UPSTREAM_TIMEOUT", 504],
  ];
  for (const [code, status] of statuses) {
    it(`${code} → ${status}`, () => assert.equal(new ProxyError(code, "x").status, status));
  }
});

describe("method and body", () => {
  it("idempotent methods", () => {
    for (const m of ["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"])
      assert.ok(isIdempotent(m), m);
    for (const m of ["POST", "PATCH", "CONNECT"]) assert.ok(!isIdempotent(m), m);
  });
  it("hasBody", () => {
    assert.equal(hasBody({}), false);
    assert.equal(hasBody({ "content-length": "0" }), false);
    assert.equal(hasBody({ "content-length": "3" }), true);
    assert.equal(hasBody({ "transfer-encoding": "chunked" }), true);
  });
});
