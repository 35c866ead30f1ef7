// The interception rules as tables (options → iptables-restore text, saved table → clean script), the flag parsers, and the runner against a recording fake of iptables-save/-restore.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  applyScript,
  checkOptions,
  cleanScript,
  DEFAULT_INTERCEPTION,
  type InterceptionOptions,
  installed,
  interceptionRules,
  parseCidr,
  parseCidrList,
  parsePortList,
} from "../../src/kubernetes/iptables.js";
import {
  applyInterception,
  cleanInterception,
  IptablesError,
  type Runner,
  runCommand,
} from "../../src/kubernetes/iptables-apply.js";
import { runCli } from "../helpers/procs.js";

const DEFAULT_V4 = `*nat
:LANEMESH_INBOUND - [0:0]
:LANEMESH_REDIRECT_IN - [0:0]
:LANEMESH_OUTPUT - [0:0]
:LANEMESH_REDIRECT_OUT - [0:0]
-A LANEMESH_REDIRECT_IN -p tcp -j REDIRECT --to-ports 15006
-A LANEMESH_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001
-A LANEMESH_INBOUND -p tcp --dport 15000 -j RETURN
-A LANEMESH_INBOUND -p tcp --dport 15001 -j RETURN
-A LANEMESH_INBOUND -p tcp --dport 15006 -j RETURN
-A LANEMESH_INBOUND -p tcp -j LANEMESH_REDIRECT_IN
-A LANEMESH_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1337 -j LANEMESH_INBOUND
-A LANEMESH_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN
-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A LANEMESH_OUTPUT -d 127.0.0.1/32 -j RETURN
-A LANEMESH_OUTPUT -p tcp -j LANEMESH_REDIRECT_OUT
-A PREROUTING -p tcp -j LANEMESH_INBOUND
-A OUTPUT -p tcp -j LANEMESH_OUTPUT
COMMIT
`;

const opts = (o: Partial<InterceptionOptions>): InterceptionOptions => ({
  ...DEFAULT_INTERCEPTION,
  ...o,
});
const cidrs = (...t: string[]) =>
  t.map((x) => {
    const c = parseCidr(x);
    assert.ok(c.ok);
    return c.value;
  });
/** The lines of `text` that mention `word`. */
const linesWith = (text: string, word: string) => text.split("\n").filter((l) => l.includes(word));

describe("interceptionRules", () => {
  it("the defaults, whole (IPv4)", () => {
    assert.equal(interceptionRules(DEFAULT_INTERCEPTION), DEFAULT_V4);
  });

  it("IPv6: the same chains with ::1/128", () => {
    const v6 = interceptionRules(DEFAULT_INTERCEPTION, 6);
    assert.equal(v6, DEFAULT_V4.replaceAll("127.0.0.1/32", "::1/128"));
  });

  const rows: [string, Partial<InterceptionOptions>, string, string[]][] = [
    [
      "the proxy UID is the one exempted",
      { proxyUid: 2000 },
      "uid-owner",
      [
        "-A LANEMESH_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 2000 -j LANEMESH_INBOUND",
        "-A LANEMESH_OUTPUT -o lo -m owner ! --uid-owner 2000 -j RETURN",
        "-A LANEMESH_OUTPUT -m owner --uid-owner 2000 -j RETURN",
      ],
    ],
    [
      "other ports: redirect targets and exempted own ports follow",
      { inboundPort: 16006, outboundPort: 16001, adminPort: 16000 },
      "160",
      [
        "-A LANEMESH_REDIRECT_IN -p tcp -j REDIRECT --to-ports 16006",
        "-A LANEMESH_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 16001",
        "-A LANEMESH_INBOUND -p tcp --dport 16000 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 16001 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 16006 -j RETURN",
      ],
    ],
    [
      "excluded inbound ports return before the redirect (own ports not repeated)",
      { excludeInboundPorts: [22, 15000, 9090] },
      "LANEMESH_INBOUND -p tcp",
      [
        "-A LANEMESH_INBOUND -p tcp --dport 15000 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 15001 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 15006 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 22 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp --dport 9090 -j RETURN",
        "-A LANEMESH_INBOUND -p tcp -j LANEMESH_REDIRECT_IN",
      ],
    ],
    [
      "excluded outbound ports and CIDRs of this family return before the redirect",
      {
        excludeOutboundPorts: [5432, 6379],
        excludeOutboundCidrs: cidrs("10.96.0.0/12", "fd00::/8", "169.254.169.254"),
      },
      "-A LANEMESH_OUTPUT",
      [
        "-A LANEMESH_OUTPUT -o lo ! -d 127.0.0.1/32 -m owner --uid-owner 1337 -j LANEMESH_INBOUND",
        "-A LANEMESH_OUTPUT -o lo -m owner ! --uid-owner 1337 -j RETURN",
        "-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN",
        "-A LANEMESH_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A LANEMESH_OUTPUT -d 10.96.0.0/12 -j RETURN",
        "-A LANEMESH_OUTPUT -d 169.254.169.254/32 -j RETURN",
        "-A LANEMESH_OUTPUT -p tcp --dport 5432 -j RETURN",
        "-A LANEMESH_OUTPUT -p tcp --dport 6379 -j RETURN",
        "-A LANEMESH_OUTPUT -p tcp -j LANEMESH_REDIRECT_OUT",
      ],
    ],
    [
      "included outbound ports: only those are redirected, an excluded one is not",
      { includeOutboundPorts: [80, 8080, 5432], excludeOutboundPorts: [5432] },
      "LANEMESH_REDIRECT_OUT",
      [
        ":LANEMESH_REDIRECT_OUT - [0:0]",
        "-A LANEMESH_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001",
        "-A LANEMESH_OUTPUT -p tcp --dport 80 -j LANEMESH_REDIRECT_OUT",
        "-A LANEMESH_OUTPUT -p tcp --dport 8080 -j LANEMESH_REDIRECT_OUT",
      ],
    ],
  ];
  for (const [name, o, word, want] of rows) {
    it(name, () => assert.deepEqual(linesWith(interceptionRules(opts(o)), word), want));
  }

  it("IPv6 rules carry only the IPv6 CIDRs", () => {
    const o = opts({ excludeOutboundCidrs: cidrs("10.0.0.0/8", "fd00::/8") });
    assert.deepEqual(linesWith(interceptionRules(o, 6), "-d f"), [
      "-A LANEMESH_OUTPUT -d fd00::/8 -j RETURN",
    ]);
    assert.deepEqual(linesWith(interceptionRules(o, 4), "-d 10."), [
      "-A LANEMESH_OUTPUT -d 10.0.0.0/8 -j RETURN",
    ]);
  });

  it("no redirect loop: the proxy's own connections return before any redirect", () => {
    const lines = linesWith(interceptionRules(DEFAULT_INTERCEPTION), "-A LANEMESH_OUTPUT");
    const exempt = lines.indexOf("-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN");
    const redirect = lines.indexOf("-A LANEMESH_OUTPUT -p tcp -j LANEMESH_REDIRECT_OUT");
    assert.ok(exempt !== -1 && exempt < redirect);
    // The one proxy rule before it sends to the inbound chain, whose own ports return.
    assert.match(
      lines[0] ?? "",
      /^-A LANEMESH_OUTPUT -o lo .*--uid-owner 1337 -j LANEMESH_INBOUND$/,
    );
  });
});

/** iptables-save output of a table holding our rules (as the nf_tables backend prints them) and a kube rule. */
const SAVED = `# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:LANEMESH_INBOUND - [0:0]
:LANEMESH_OUTPUT - [0:0]
:LANEMESH_REDIRECT_IN - [0:0]
:LANEMESH_REDIRECT_OUT - [0:0]
-A PREROUTING -j KUBE-SERVICES
-A PREROUTING -p tcp -j LANEMESH_INBOUND
-A OUTPUT -p tcp -j LANEMESH_OUTPUT
-A LANEMESH_INBOUND -p tcp -m tcp --dport 15000 -j RETURN
-A LANEMESH_INBOUND -p tcp -j LANEMESH_REDIRECT_IN
-A LANEMESH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A LANEMESH_OUTPUT -p tcp -j LANEMESH_REDIRECT_OUT
-A LANEMESH_REDIRECT_IN -p tcp -j REDIRECT --to-ports 15006
-A LANEMESH_REDIRECT_OUT -p tcp -j REDIRECT --to-ports 15001
COMMIT
# Completed
*filter
:LANEMESH_OUTPUT - [0:0]
-A OUTPUT -j LANEMESH_OUTPUT
COMMIT
`;

describe("reading a saved table; apply and clean scripts", () => {
  it("finds our chains and the jumps into them, in the nat table only", () => {
    assert.deepEqual(installed(SAVED), {
      chains: [
        "LANEMESH_INBOUND",
        "LANEMESH_OUTPUT",
        "LANEMESH_REDIRECT_IN",
        "LANEMESH_REDIRECT_OUT",
      ],
      jumps: ["-A PREROUTING -p tcp -j LANEMESH_INBOUND", "-A OUTPUT -p tcp -j LANEMESH_OUTPUT"],
    });
    assert.deepEqual(installed("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n"), {
      chains: [],
      jumps: [],
    });
  });

  it("apply over an empty table is the dry-run text", () => {
    assert.equal(applyScript(DEFAULT_INTERCEPTION, 4, ""), DEFAULT_V4);
  });

  it("apply over installed rules deletes the old jumps first: never two jumps", () => {
    const script = applyScript(DEFAULT_INTERCEPTION, 4, SAVED);
    const lines = script.split("\n");
    assert.deepEqual(lines.slice(5, 7), [
      "-D PREROUTING -p tcp -j LANEMESH_INBOUND",
      "-D OUTPUT -p tcp -j LANEMESH_OUTPUT",
    ]);
    assert.equal(linesWith(script, "-A PREROUTING").length, 1);
    assert.equal(linesWith(script, "-A OUTPUT").length, 1);
    assert.ok(!script.includes("KUBE"), "other chains untouched");
  });

  it("clean: jumps, then flush and delete every chain of ours; null when none", () => {
    assert.equal(
      cleanScript(SAVED),
      `*nat
-D PREROUTING -p tcp -j LANEMESH_INBOUND
-D OUTPUT -p tcp -j LANEMESH_OUTPUT
-F LANEMESH_INBOUND
-F LANEMESH_OUTPUT
-F LANEMESH_REDIRECT_IN
-F LANEMESH_REDIRECT_OUT
-X LANEMESH_INBOUND
-X LANEMESH_OUTPUT
-X LANEMESH_REDIRECT_IN
-X LANEMESH_REDIRECT_OUT
COMMIT
`,
    );
    assert.equal(cleanScript("*nat\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -j KUBE-X\nCOMMIT\n"), null);
  });
});

describe("flag values", () => {
  it("ports", () => {
    assert.deepEqual(parsePortList(" 5432, 6379,,5432"), { ok: true, value: [5432, 6379] });
    assert.deepEqual(parsePortList(""), { ok: true, value: [] });
    for (const bad of ["0", "65536", "80a", "-1", "1.5", "http"]) {
      const r = parsePortList(`80,${bad}`);
      assert.ok(!r.ok && r.error.includes(`"${bad}"`), `${bad}: ${JSON.stringify(r)}`);
    }
  });

  it("CIDRs", () => {
    assert.deepEqual(parseCidrList("10.0.0.0/8, 169.254.169.254,FD00::/8"), {
      ok: true,
      value: [
        { family: 4, address: "10.0.0.0", prefix: 8 },
        { family: 4, address: "169.254.169.254", prefix: 32 },
        { family: 6, address: "fd00::", prefix: 8 },
      ],
    });
    const rows: [string, RegExp][] = [
      ["10.0.0.0/33", /prefix must be 0\.\.32/],
      ["fd00::/129", /prefix must be 0\.\.128/],
      ["10.0.0/8", /not an IP address/],
      ["10.0.0.0/x", /prefix/],
      ["host.example/32", /not an IP address/],
    ];
    for (const [text, want] of rows) {
      const r = parseCidr(text);
      assert.ok(!r.ok);
      assert.match(r.error, want);
    }
  });

  it("option checks", () => {
    assert.equal(checkOptions(DEFAULT_INTERCEPTION), null);
    assert.match(checkOptions(opts({ proxyUid: 0 })) ?? "", /--proxy-uid 0/);
    assert.match(checkOptions(opts({ outboundPort: 15006 })) ?? "", /both 15006/);
    assert.match(checkOptions(opts({ inboundPort: 0 })) ?? "", /--inbound-port 0/);
  });
});

describe("the runner (a recording fake of iptables-save and iptables-restore)", () => {
  /** A fake kernel: one saved text per family; restore records the script. */
  function fake(saved: string) {
    const calls: string[] = [];
    const run: Runner = (cmd, args, input) => {
      calls.push(`${cmd} ${args.join(" ")}${input === undefined ? "" : `\n${input}`}`);
      return cmd.endsWith("-save") ? saved : "";
    };
    return { calls, run };
  }

  it("apply reads the table, then restores with --noflush, per family", () => {
    const f = fake(SAVED);
    const steps = applyInterception(DEFAULT_INTERCEPTION, [4, 6], f.run);
    assert.deepEqual(
      f.calls.map((c) => c.split("\n")[0]),
      [
        "iptables-save -t nat",
        "iptables-restore --noflush",
        "ip6tables-save -t nat",
        "ip6tables-restore --noflush",
      ],
    );
    assert.equal(steps[0]?.script, applyScript(DEFAULT_INTERCEPTION, 4, SAVED));
    assert.ok(steps[1]?.script?.includes("::1/128"));
  });

  it("clean restores nothing when nothing of ours is there", () => {
    const f = fake("*nat\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
    assert.deepEqual(cleanInterception([4], f.run), [{ family: 4, script: null }]);
    assert.deepEqual(f.calls, ["iptables-save -t nat"]);
  });

  it("a missing command is named, with what to do", () => {
    assert.throws(
      () => runCommand("lanemesh-no-such-iptables-restore", []),
      (err: unknown) =>
        err instanceof IptablesError &&
        err.code === "LANEMESH_IPTABLES_MISSING" &&
        /lanemesh-no-such-iptables-restore not found in PATH: install iptables/.test(err.message),
    );
  });
});

describe("lanemesh iptables (the command)", () => {
  it("--dry-run prints the rules; flags also come from LANEMESH_<FLAG>", async () => {
    const r = await runCli(["iptables", "--dry-run", "--exclude-outbound-ports", "5432"], {
      LANEMESH_EXCLUDE_OUTBOUND_CIDRS: "10.96.0.0/12",
      LANEMESH_PROXY_UID: "2000",
    });
    assert.equal(r.code, 0, r.stderr);
    const o = opts({
      proxyUid: 2000,
      excludeOutboundPorts: [5432],
      excludeOutboundCidrs: cidrs("10.96.0.0/12"),
    });
    assert.equal(r.stdout, `# iptables-restore --noflush\n${interceptionRules(o)}`);
  });

  it("--dry-run --ipv6 prints both families", async () => {
    const r = await runCli(["iptables", "--dry-run", "--ipv6"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `# iptables-restore --noflush\n${DEFAULT_V4}# ip6tables-restore --noflush\n${interceptionRules(DEFAULT_INTERCEPTION, 6)}`,
    );
  });

  const refusals: [string, string[], Record<string, string>, RegExp][] = [
    ["a bad port", ["--exclude-outbound-ports", "5432,99999"], {}, /bad port "99999"/],
    [
      "a bad CIDR from the env",
      [],
      { LANEMESH_EXCLUDE_OUTBOUND_CIDRS: "10.0.0.0/40" },
      /bad CIDR "10\.0\.0\.0\/40"/,
    ],
    ["proxy UID 0", ["--proxy-uid", "0"], {}, /--proxy-uid 0/],
    ["one port for both sides", ["--inbound-port", "15001"], {}, /both 15001/],
  ];
  for (const [name, args, env, want] of refusals) {
    it(`refuses ${name}`, async () => {
      const r = await runCli(["iptables", "--dry-run", ...args], env);
      assert.equal(r.code, 1);
      assert.match(r.stderr, want);
      assert.equal(r.stdout, "");
    });
  }

  it("says so when iptables is not installed", async () => {
    const r = await runCli(["iptables"], { PATH: "/lanemesh-nothing-here" });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /iptables-save not found in PATH: install iptables/);
  });
});
