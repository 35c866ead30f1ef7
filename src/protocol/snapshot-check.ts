// Decides whether a snapshot (from the wire or from disk) can be put in force; pure, never applies or does I/O.
import { formatError } from "../config/document.js";
import { toEndpoint, validateResources } from "../config/load.js";
import type { Endpoint, RuleSet } from "../config/types.js";
import type { ShapeMemo } from "../config/validate.js";
import { DOC_FIELDS, FIELD_KIND } from "./delta.js";
import { type SnapshotMessage, snapshotDocuments } from "./wire.js";

export type SnapshotContent = Pick<
  SnapshotMessage,
  "version" | "routes" | "groups" | "lanes" | "endpoints" | "epoch" | "adopts"
>;

/** The parts of a snapshot the check reads. */
export type SnapshotDocs = Pick<
  SnapshotMessage,
  "version" | "routes" | "groups" | "lanes" | "endpoints"
>;

export type CheckedSnapshot =
  | { ok: true; version: string; rules: RuleSet; endpoints: Endpoint[] }
  | { ok: false; error: string };

/** At most this many validation errors are spelled out in a NACK; the rest are counted. */
const MAX_ERRORS = 10;

/**
 * What a caller that checks snapshot after snapshot keeps between checks (sync/incoming.ts), so
 * that unchanged documents are neither parsed nor shape-checked again: the batch rules always run.
 */
export interface CheckMemo {
  /** A document's parsed value (the same object for the same text, while it is kept). */
  parse(text: string): unknown;
  readonly shapes: ShapeMemo;
}

/**
 * Validate a snapshot with the same validator as files (`validateResources`), check every
 * document sits in the field of its kind, and re-check the endpoints the pickers will read.
 * With `memo`, unchanged documents are not parsed or shape-checked again.
 */
export function checkSnapshot(s: SnapshotDocs, memo?: CheckMemo): CheckedSnapshot {
  if (!/^\d+$/.test(s.version)) return { ok: false, error: `bad snapshot version "${s.version}"` };
  const { docs, error } = snapshotDocuments(
    s,
    undefined,
    memo ? (text) => memo.parse(text) : undefined,
  );
  if (error !== null) return { ok: false, error };
  let i = 0;
  for (const field of DOC_FIELDS) {
    for (let n = 0; n < s[field].length; n++, i++) {
      const kind = (docs[i]?.value as { kind?: unknown } | null)?.kind;
      if (kind !== FIELD_KIND[field])
        return {
          ok: false,
          error: `snapshot ${s.version}: ${field}[${n}] is kind ${String(kind)}, expected ${FIELD_KIND[field]}`,
        };
    }
  }
  const v = validateResources(docs, memo?.shapes);
  if (!v.ok) {
    const lines = v.errors.slice(0, MAX_ERRORS).map(formatError);
    if (v.errors.length > MAX_ERRORS) lines.push(`… and ${v.errors.length - MAX_ERRORS} more`);
    return { ok: false, error: lines.join("\n") };
  }
  const endpoints = v.instances.map(toEndpoint);
  for (const e of endpoints) {
    const bad = endpointProblem(e);
    if (bad) return { ok: false, error: `snapshot ${s.version}: endpoint ${describe(e)}: ${bad}` };
  }
  return { ok: true, version: s.version, rules: v.rules, endpoints };
}

function endpointProblem(e: Endpoint): string | null {
  if (!e.service) return "no service";
  if (!e.address) return "no address";
  if (!Number.isInteger(e.port) || e.port < 1 || e.port > 65535) return `bad port ${e.port}`;
  if (!Number.isFinite(e.weight) || e.weight < 0) return `bad weight ${e.weight}`;
  return null;
}

function describe(e: Endpoint): string {
  return `${e.service || "?"}@${e.address || "?"}:${e.port}`;
}
