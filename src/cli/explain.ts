// `lanemesh explain`: which route, lane and tag a request gets and which instance each hop would pick; pure core plus printing, no I/O in the core.
import { statSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { buildPickers, type FallbackReason, type PickerTable } from "../balancer/picker.js";
import { formatError } from "../config/document.js";
import type { Endpoint, LaneMode, RuleSet } from "../config/types.js";
import { compileMatcher, type Matcher } from "../lane/rules/matcher.js";
import type { RequestView } from "../lane/rules/request.js";
import { requestViewFromMaps } from "../lane/rules/view.js";
import { collect } from "./options.js";
import { connection, serverOption, tokenFileOption, tokenOption } from "./server-client.js";

/** The pick one service would make for the request's tag. */
export interface HopPick {
  service: string;
  /** `address:port` (IPv6 in brackets), null when nothing could be picked. */
  instance: string | null;
  /** Tag of the instance picked (null = base). */
  instanceTag: string | null;
  /** Why a wanted tag fell back to base, null when it did not. */
  fallback: FallbackReason | null;
  /** Why nothing was picked, null when something was. */
  error: "LANEMESH_NO_ENDPOINT" | "LANEMESH_NO_BASE_ENDPOINT" | null;
}

/** What the proxies would do with one request. */
export interface Explanation {
  route: string | null;
  /** The route's target service (the gateway's first hop), null when no route matched. */
  service: string | null;
  group: string | null;
  /** Mode of the matched route's lane groups' decision, null when no lane matched. */
  mode: LaneMode | null;
  lane: string | null;
  tag: string | null;
  /**
   * A closed lane (`enabled: false`) that would have taken the request were it open, null when
   * none: the request is base because of it.
   */
  closedLane: string | null;
  /**
   * One pick per known service, the route's service first; null when no endpoints were given or
   * no route matched (the gateway answers 404 and nothing is picked).
   */
  hops: HopPick[] | null;
}

/**
 * The `--json` shape: `fallback` maps each service that fell back to base to the reason
 * (`lane-closed`, `not-in-lane`, `no-tagged-instance`, `unknown-tag`); `picks` maps each service
 * to `address:port` or null. Both are null when no endpoints were given.
 */
export interface ExplanationJson {
  route: string | null;
  group: string | null;
  lane: string | null;
  tag: string | null;
  /** The closed lane that would have matched, null when none. */
  closedLane: string | null;
  fallback: Record<string, FallbackReason> | null;
  picks: Record<string, string | null> | null;
}

function hostPort(e: Endpoint): string {
  return e.address.includes(":") ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * Explain one request against a compiled matcher and picker table (e.g. a live config's), so the
 * control plane can answer the same question for the config it serves. Every service of the
 * picker table is asked with the request's tag, as each hop's sidecar would.
 */
export function explainWith(
  matcher: Matcher,
  pickers: PickerTable | null,
  request: RequestView,
  modeOf: (group: string) => LaneMode | null = () => null,
): Explanation {
  const d = matcher.match(request);
  const out: Explanation = {
    route: d.route,
    service: d.service,
    group: d.group,
    mode: d.group === null ? null : modeOf(d.group),
    lane: d.lane,
    tag: d.tag,
    closedLane: null,
    hops: null,
  };
  if (pickers === null || d.route === null) return out;
  const services = [...new Set([...(d.service ? [d.service] : []), ...pickers.services()])];
  out.hops = services.map((service): HopPick => {
    const picker = pickers.get(service);
    const r = picker
      ? picker.pick(d.tag)
      : ({ ok: false, code: "LANEMESH_NO_ENDPOINT", service } as const);
    if (!r.ok) return { service, instance: null, instanceTag: null, fallback: null, error: r.code };
    return {
      service,
      instance: hostPort(r.endpoint),
      instanceTag: r.endpoint.tag,
      fallback: r.fallback ? (r.reason ?? "no-tagged-instance") : null,
      error: null,
    };
  });
  return out;
}

export interface ExplainOptions {
  /** Gateway whose routes apply (default `default`). */
  gateway?: string;
  /** Ratio-mode draw in [0, 1); Math.random by default. */
  random?: () => number;
}

/** Explain one request against validated rules and, optionally, endpoints. Pure. */
export function explain(
  rules: RuleSet,
  endpoints: Endpoint[] | null,
  request: RequestView,
  opts: ExplainOptions = {},
): Explanation {
  // One draw for both matchers below, so a closed ratio lane is judged on the same draw.
  const draw = (opts.random ?? Math.random)();
  const gateway = opts.gateway ?? "default";
  const matcher = compileMatcher(rules, { gateway, random: () => draw });
  // A fixed start offset: the same files always explain to the same instances.
  const pickers = endpoints === null ? null : buildPickers(endpoints, rules, { random: () => 0 });
  const modes = new Map(rules.groups.map((g) => [g.metadata.name, g.spec.mode]));
  const out = explainWith(matcher, pickers, request, (g) => modes.get(g) ?? null);
  if (
    out.route !== null &&
    out.lane === null &&
    rules.lanes.some((l) => l.spec.enabled === false)
  ) {
    // The same rules with every lane open: a lane that matches there is closed here.
    const opened = rules.lanes.map((l) => ({ ...l, spec: { ...l.spec, enabled: true } }));
    const wouldBe = compileMatcher({ ...rules, lanes: opened }, { gateway, random: () => draw });
    out.closedLane = wouldBe.match(request).lane;
  }
  return out;
}

export function toJson(e: Explanation): ExplanationJson {
  let fallback: Record<string, FallbackReason> | null = null;
  let picks: Record<string, string | null> | null = null;
  if (e.hops !== null) {
    fallback = {};
    picks = {};
    for (const h of e.hops) {
      picks[h.service] = h.instance;
      if (h.fallback !== null) fallback[h.service] = h.fallback;
    }
  }
  return {
    route: e.route,
    group: e.group,
    lane: e.lane,
    tag: e.tag,
    closedLane: e.closedLane,
    fallback,
    picks,
  };
}

const REASON_TEXT: Record<FallbackReason, (service: string, tag: string) => string> = {
  "unknown-tag": (_s, t) => `no lane has tag ${t}`,
  "lane-closed": (s, t) => `the lane of tag ${t} is closed for ${s}`,
  "not-in-lane": (s, t) => `${s} does not take part in the lane of tag ${t}`,
  "no-tagged-instance": (s, t) => `no healthy instance of ${s} is tagged ${t}`,
};

const ERROR_TEXT = {
  LANEMESH_NO_ENDPOINT: "no instance of the service",
  LANEMESH_NO_BASE_ENDPOINT: "no base instance of the service",
} as const;

/** The human-readable answer, one fact per line. */
export function formatExplanation(e: Explanation, path: string, gateway: string): string {
  const lines: string[] = [];
  const pad = (k: string): string => k.padEnd(7);
  lines.push(
    e.route === null
      ? `${pad("route")}none: no route of gateway ${gateway} matches ${path} (the gateway answers 404)`
      : `${pad("route")}${e.route} -> service ${e.service}`,
  );
  lines.push(
    `${pad("group")}${e.group === null ? "none" : `${e.group}${e.mode ? ` (mode ${e.mode})` : ""}`}`,
  );
  lines.push(
    `${pad("lane")}${
      e.lane ??
      (e.closedLane === null
        ? "none (base)"
        : `none (base): Lane/${e.closedLane} matches this request but is closed (enabled: false)`)
    }`,
  );
  lines.push(`${pad("tag")}${e.tag ?? "none (base)"}`);
  if (e.hops !== null) {
    lines.push(`picks for ${e.tag === null ? "base traffic" : `tag ${e.tag}`}:`);
    const width = Math.max(...e.hops.map((h) => h.service.length), 0) + 2;
    for (const h of e.hops) {
      let what: string;
      if (h.instance === null) what = `none: ${h.error} (${h.error ? ERROR_TEXT[h.error] : ""})`;
      else if (h.fallback !== null && e.tag !== null)
        what = `${h.instance} base (fallback to base: ${REASON_TEXT[h.fallback](h.service, e.tag)})`;
      else what = `${h.instance} ${h.instanceTag ?? "base"}`;
      lines.push(`  ${h.service.padEnd(width)}${what}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

function keyValue(sep: ":" | "=", flag: string) {
  return (value: string, previous: Record<string, string> | undefined): Record<string, string> => {
    const i = value.indexOf(sep);
    const key = (i === -1 ? value : value.slice(0, i)).trim();
    if (key === "") throw new InvalidArgumentError(`expected ${flag}.`);
    if (sep === ":" && i === -1) throw new InvalidArgumentError(`expected ${flag}.`);
    const v = i === -1 ? "" : value.slice(i + 1).trim();
    const out = { ...(previous ?? {}) };
    const k = sep === ":" ? key.toLowerCase() : key;
    // A header given twice reads as Node joins it; cookies and query: the last flag wins.
    out[k] = sep === ":" && out[k] !== undefined ? `${out[k]}, ${v}` : v;
    return out;
  };
}

function parseDraw(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !(n >= 0 && n < 1))
    throw new InvalidArgumentError("expected 0 <= N < 1.");
  return n;
}

interface ExplainFlags {
  file?: string[];
  endpoints?: string[];
  gateway: string;
  header?: Record<string, string>;
  cookie?: Record<string, string>;
  query?: Record<string, string>;
  method: string;
  draw?: number;
  json?: boolean;
  server?: string;
}

/**
 * The request path is the last argument. `-f` takes several values (`-f a.yaml b.yaml /a`, as
 * validate and apply do), so with no other argument the path is -f's last value, unless that
 * value is a file.
 */
export function splitPath(
  files: readonly string[],
  positional: readonly string[],
  isFile: (p: string) => boolean = (p) => statSync(p, { throwIfNoEntry: false })?.isFile() ?? false,
): { files: string[]; path: string } | { error: string } {
  const all = [...files, ...positional];
  const last = all.at(-1);
  const path = positional.length > 0 || (last !== undefined && !isFile(last)) ? last : undefined;
  if (path === undefined || !path.startsWith("/"))
    return {
      error: `error: missing PATH: the request path, starting with / (lanemesh explain [-f FILE…] [-H 'k: v'] /a)${path === undefined ? "" : `; got ${JSON.stringify(path)}`}`,
    };
  return { files: all.slice(0, -1), path };
}

export function register(program: Command): void {
  program
    .command("explain")
    .description(
      "show the route, lane group, lane and tag a request gets at the gateway, and the instance every service would pick; from files (-f) or, without them, from the control plane's live config",
    )
    .argument("[PATH...]", "request path, may include ?query; the last argument")
    .addOption(
      new Option(
        "-f, --file <FILE...>",
        "resource files (YAML); without -f the live config of the control plane is explained",
      ),
    )
    .addOption(
      new Option("--endpoints <FILE>", "Instance documents to pick from (repeatable)").argParser(
        collect,
      ),
    )
    .option("--gateway <NAME>", "gateway whose routes apply", "default")
    .addOption(
      new Option("-H, --header <'k: v'>", "request header (repeatable)").argParser(
        keyValue(":", "'name: value'"),
      ),
    )
    .addOption(
      new Option("--cookie <k=v>", "request cookie (repeatable)").argParser(keyValue("=", "k=v")),
    )
    .addOption(
      new Option("--query <k=v>", "query parameter, wins over PATH's (repeatable)").argParser(
        keyValue("=", "k=v"),
      ),
    )
    .option("--method <M>", "request method", "GET")
    .addOption(
      new Option("--draw <N>", "ratio mode: the random draw in [0, 1) (default: random)").argParser(
        parseDraw,
      ),
    )
    .option(
      "--json",
      "print one JSON object {route, group, lane, tag, closedLane, fallback, picks}",
    )
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(async (args: string[], o: ExplainFlags, cmd: Command) => {
      const split = splitPath(o.file ?? [], args);
      if ("error" in split) {
        process.stderr.write(`${split.error}\n`);
        process.exitCode = 1;
        return;
      }
      const { files, path } = split;
      const request = requestViewFromMaps({
        method: o.method,
        path,
        headers: o.header ?? {},
        cookies: o.cookie ?? {},
        query: o.query ?? {},
      });
      const draw = o.draw;
      const opts: ExplainOptions = {
        gateway: o.gateway,
        ...(draw === undefined ? {} : { random: () => draw }),
      };
      const print = (e: Explanation): void => {
        process.stdout.write(
          o.json ? `${JSON.stringify(toJson(e))}\n` : formatExplanation(e, path, o.gateway),
        );
      };
      const endpointFiles = o.endpoints ?? [];
      // Files win over a server from the environment or the context; --server with files is an error.
      if (files.length === 0 && endpointFiles.length === 0) {
        const target = connection(cmd);
        const { fetchLiveConfig } = await import("../control-plane/api-client.js");
        const live = target.ok
          ? await fetchLiveConfig(target.server, target.token)
          : { ok: false as const, message: target.message };
        if (!live.ok) {
          process.stderr.write(
            `${live.message}\n${target.ok && target.from === "flag" ? "" : "(or explain resource files offline: lanemesh explain -f FILE… PATH)\n"}`,
          );
          process.exitCode = 1;
          return;
        }
        print(explain(live.value.rules, live.value.endpoints, request, opts));
        return;
      }
      if (cmd.getOptionValueSource("server") === "cli") {
        process.stderr.write("error: give -f/--endpoints files or --server, not both\n");
        process.exitCode = 1;
        return;
      }
      // Loaded on use: YAML parsing is the slow part of CLI startup.
      const { loadFiles, toEndpoint } = await import("../config/load.js");
      const loaded = loadFiles([...files, ...endpointFiles]);
      if (!loaded.ok) {
        process.stderr.write(`${loaded.errors.map(formatError).join("\n")}\n`);
        process.exitCode = 1;
        return;
      }
      // Instances in the -f files count too: one file may hold the whole scenario.
      const endpoints =
        endpointFiles.length > 0 || loaded.instances.length > 0
          ? loaded.instances.map(toEndpoint)
          : null;
      print(explain(loaded.rules, endpoints, request, opts));
    });
}
