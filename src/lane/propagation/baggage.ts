// W3C baggage: finds the `lane` member of a baggage value and rewrites it; pure string work, it never touches headers or the cache.

/*
 * Grammar (W3C Baggage §3.3): `baggage = list-member *(OWS "," OWS list-member)`,
 * `list-member = key OWS "=" OWS value *(OWS ";" OWS property)`,
 * `property = key OWS "=" OWS value / key OWS`, key = token (RFC 9110), value = baggage-octets,
 * percent-encoded. OWS = spaces and tabs. Keys are case-sensitive: only `lane` counts, not `Lane`.
 *
 * Reading (`laneFromBaggage`): the first well-formed `lane` member whose percent-decoded value is
 * a valid lane tag wins; malformed members (bad syntax, bad percent-encoding, a value that is not
 * a tag token) are skipped, never fatal. Several `baggage` headers are joined with "," first.
 *
 * Writing (`withLane`): every member keyed `lane` (well-formed or not) is removed, so no stale
 * lane survives; with a tag, one `lane=<tag>` member takes the place of the first old one (or is
 * appended). Other members keep their order and their bytes (only OWS around them is trimmed and
 * empty members dropped). Limits: W3C requires propagating up to 64 members and 8192 bytes; past
 * that we keep the lane member first, then the longest PREFIX of the other members that fits in
 * 64 members / 8192 bytes (commas counted), and drop the rest — deterministic, and the members an
 * app put first survive. Lengths count UTF-16 units, equal to bytes for header strings as Node
 * delivers them (latin1, one character per byte). A value with nothing to change (no tag, no lane
 * member) is returned unchanged, byte for byte.
 */

import { isLaneTag } from "../../config/lane-tag.js";

/** The baggage member key that carries the lane tag. */
export const LANE_BAGGAGE_KEY = "lane";
/** W3C Baggage §3.3.3 limits, which we treat as maxima when we rewrite the header. */
export const BAGGAGE_MAX_MEMBERS = 64;
export const BAGGAGE_MAX_BYTES = 8192;

const OWS = "[ \\t]*";
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const OCTETS = "[!#-+\\--:<-\\[\\]-~]*";
/** A whole `lane` list-member, OWS around it included; group 1 is the raw (encoded) value. */
const LANE_MEMBER = new RegExp(
  `^${OWS}lane${OWS}=${OWS}(${OCTETS})(?:${OWS};${OWS}${TOKEN}(?:${OWS}=${OWS}${OCTETS})?)*${OWS}$`,
);

function isOws(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

/** The tag of the `lane` member in `member` (value[start, end)), or null. */
function laneOfMember(value: string, start: number, end: number): string | null {
  let s = start;
  while (s < end && isOws(value.charCodeAt(s))) s++;
  if (!value.startsWith(LANE_BAGGAGE_KEY, s)) return null;
  const match = LANE_MEMBER.exec(value.slice(s, end));
  if (match === null) return null;
  let tag = match[1] ?? "";
  if (tag.includes("%")) {
    try {
      tag = decodeURIComponent(tag);
    } catch {
      return null;
    }
  }
  return isLaneTag(tag) ? tag : null;
}

/** The lane tag carried by a baggage value (first valid `lane` member), or null. */
export function laneFromBaggage(value: string): string | null {
  if (!value.includes(LANE_BAGGAGE_KEY)) return null;
  const length = value.length;
  let start = 0;
  while (start <= length) {
    let end = value.indexOf(",", start);
    if (end === -1) end = length;
    const tag = laneOfMember(value, start, end);
    if (tag !== null) return tag;
    start = end + 1;
  }
  return null;
}

function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && isOws(text.charCodeAt(start))) start++;
  while (end > start && isOws(text.charCodeAt(end - 1))) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** True when the (trimmed) member's key is `lane`, whatever follows. */
function isLaneMember(member: string): boolean {
  if (!member.startsWith(LANE_BAGGAGE_KEY)) return false;
  let i = LANE_BAGGAGE_KEY.length;
  while (i < member.length && isOws(member.charCodeAt(i))) i++;
  if (i === member.length) return true;
  const code = member.charCodeAt(i);
  return code === 0x3d || code === 0x3b; // "=" or ";"
}

function isBlank(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (!isOws(code) && code !== 0x2c) return false;
  }
  return true;
}

/**
 * `existing` (a baggage value, several headers joined with ",") with its lane member set to `tag`,
 * or removed when `tag` is null; undefined when no member is left. `tag` must be a valid lane tag
 * (see isLaneTag): it is written as is.
 */
export function withLane(existing: string | undefined, tag: string | null): string | undefined {
  if (existing === undefined || isBlank(existing)) {
    return tag === null ? undefined : `${LANE_BAGGAGE_KEY}=${tag}`;
  }
  if (tag === null && !existing.includes(LANE_BAGGAGE_KEY)) return existing;

  const others: string[] = [];
  let lanePosition = -1;
  for (const raw of existing.split(",")) {
    const member = trimOws(raw);
    if (member === "") continue;
    if (isLaneMember(member)) {
      if (lanePosition === -1) lanePosition = others.length;
      continue;
    }
    others.push(member);
  }
  if (tag === null && lanePosition === -1) return existing;

  const laneMember = tag === null ? null : `${LANE_BAGGAGE_KEY}=${tag}`;
  const maxOthers = laneMember === null ? BAGGAGE_MAX_MEMBERS : BAGGAGE_MAX_MEMBERS - 1;
  let bytes = laneMember === null ? 0 : laneMember.length;
  let kept = 0;
  while (kept < others.length && kept < maxOthers) {
    const member = others[kept] as string;
    const added = bytes === 0 ? member.length : member.length + 1;
    if (bytes + added > BAGGAGE_MAX_BYTES) break;
    bytes += added;
    kept++;
  }
  others.length = kept;
  if (laneMember !== null) {
    const at = lanePosition === -1 || lanePosition > kept ? kept : lanePosition;
    others.splice(at, 0, laneMember);
  }
  return others.length === 0 ? undefined : others.join(",");
}
