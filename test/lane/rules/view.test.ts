// RequestView builders: plain maps and Node-like requests, cookie and query parsing, lazy parse-once.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  parseCookieHeader,
  parseQueryString,
  requestViewFromIncoming,
  requestViewFromMaps,
  splitTarget,
} from "../../../src/lane/rules/view.js";

test("splitTarget separates path and query, also for absolute-form targets", () => {
  const table: [string, string, string][] = [
    ["/a", "/a", ""],
    ["/a?x=1&y=2", "/a", "x=1&y=2"],
    ["/a?", "/a", ""],
    ["?x=1", "/", "x=1"],
    ["", "/", ""],
    ["/a#frag", "/a", ""],
    ["http://sc-b:8080/b/c?x=1", "/b/c", "x=1"],
    ["http://sc-b:8080", "/", ""],
    ["http://sc-b?x=1", "/", "x=1"],
  ];
  for (const [target, path, query] of table) {
    assert.deepEqual(splitTarget(target), { path, query }, target);
  }
});

test("parseCookieHeader: first occurrence wins, quotes dropped, no decoding", () => {
  const c = parseCookieHeader('uid=42; name="xiao ming"; uid=43;bad; empty=; sp = a%20b ;=x');
  assert.equal(c.get("uid"), "42");
  assert.equal(c.get("name"), "xiao ming");
  assert.equal(c.get("empty"), "");
  assert.equal(c.get("sp"), "a%20b");
  assert.equal(c.has("bad"), false);
  assert.equal(c.has(""), false);
});

test("parseQueryString decodes like URLSearchParams, first occurrence wins", () => {
  const q = parseQueryString("name=xiao+ming&x=%E5%B0%8F&name=other&flag");
  assert.equal(q.get("name"), "xiao ming");
  assert.equal(q.get("x"), "小");
  assert.equal(q.get("flag"), "");
  assert.equal(q.get("nope"), undefined);
});

test("requestViewFromMaps lower-cases header names and merges path query and cookie header", () => {
  const v = requestViewFromMaps({
    path: "/a/b?from=path&both=path",
    headers: { Canary: "gray", Cookie: "c1=from-header; c2=from-header" },
    cookies: { c2: "explicit" },
    query: { both: "explicit" },
  });
  assert.equal(v.method, "GET");
  assert.equal(v.path, "/a/b");
  assert.equal(v.header("canary"), "gray");
  assert.equal(v.header("missing"), undefined);
  assert.equal(v.cookie("c1"), "from-header");
  assert.equal(v.cookie("c2"), "explicit");
  assert.equal(v.query("from"), "path");
  assert.equal(v.query("both"), "explicit");
  assert.equal(requestViewFromMaps({ method: "post", path: "/" }).method, "POST");
});

test("requestViewFromIncoming reads Node headers and parses cookie and query once, lazily", () => {
  let cookieReads = 0;
  const headers: Record<string, string | string[] | undefined> = {
    canary: "gray",
    "x-multi": ["a", "b"],
  };
  Object.defineProperty(headers, "cookie", {
    enumerable: true,
    get() {
      cookieReads++;
      return "uid=7; lane=gray";
    },
  });
  const v = requestViewFromIncoming({ method: "GET", url: "/a?name=xiaoming&name=2", headers });
  assert.equal(v.path, "/a");
  assert.equal(v.header("canary"), "gray");
  assert.equal(v.header("x-multi"), "a, b");
  assert.equal(cookieReads, 0, "no cookie parse before a cookie is asked for");
  assert.equal(v.cookie("uid"), "7");
  assert.equal(v.cookie("lane"), "gray");
  assert.equal(v.cookie("none"), undefined);
  assert.equal(cookieReads, 1, "the Cookie header is parsed once");
  assert.equal(v.query("name"), "xiaoming");
  assert.equal(v.query("none"), undefined);
});

test("requestViewFromIncoming copes with missing url, cookie and query", () => {
  const v = requestViewFromIncoming({ headers: {} });
  assert.equal(v.method, "GET");
  assert.equal(v.path, "/");
  assert.equal(v.cookie("x"), undefined);
  assert.equal(v.query("x"), undefined);
  const arr = requestViewFromIncoming({ url: "/", headers: { cookie: ["a=1", "b=2"] } });
  assert.equal(arr.cookie("b"), "2");
});
