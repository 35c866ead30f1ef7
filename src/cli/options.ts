// Flag helpers shared by the commands: env-backed options and value parsers; no command logic here.
import { InvalidArgumentError, Option } from "commander";
import { isLaneTag } from "../config/lane-tag.js";

/** `--app-port` → `LANEMESH_APP_PORT`: the environment variable every proxy flag also reads. */
export function envName(flags: string): string {
  const long = /--([a-z0-9-]+)/.exec(flags)?.[1];
  if (!long) throw new Error(`option without a long name: ${flags}`);
  return `LANEMESH_${long.toUpperCase().replaceAll("-", "_")}`;
}

/** An Option that also reads `LANEMESH_<LONG_NAME>` (a command-line flag wins over the env). */
export function envOption(flags: string, description: string): Option {
  return new Option(flags, description).env(envName(flags));
}

/**
 * A boolean flag that reads `true|false|1|0|yes|no|on|off` from its env variable or an optional
 * value (`--access-log`, `--access-log false`, `LANEMESH_ACCESS_LOG=0`).
 */
export function envBoolOption(long: string, description: string): Option {
  return envOption(`${long} [bool]`, description)
    .preset("true")
    .default(false)
    .argParser(parseBool);
}

export function parseBool(value: string): boolean {
  const v = value.trim().toLowerCase();
  if (["true", "1", "yes", "on"].includes(v)) return true;
  if (["false", "0", "no", "off", ""].includes(v)) return false;
  throw new InvalidArgumentError("expected true or false.");
}

/** A TCP port 0..65535 (0 = any free port, reported at startup). */
export function parsePort(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError("expected a port number 0..65535.");
  return n;
}

/** A port something else listens on (`--app-port`): 1..65535, since 0 cannot be dialed. */
export function parseTargetPort(value: string): number {
  const n = parsePort(value);
  if (n === 0)
    throw new InvalidArgumentError(
      "expected the port the app listens on, 1..65535 (0 cannot be dialed).",
    );
  return n;
}

export function parsePositiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0)
    throw new InvalidArgumentError("expected a positive integer.");
  return n;
}

/** An integer >= 0 (0 often turns a feature off). */
export function parseCount(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError("expected an integer >= 0.");
  return n;
}

/** A percentage 0..100, fractions allowed. */
export function parsePercent(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100)
    throw new InvalidArgumentError("expected a percentage 0..100.");
  return n;
}

/** A non-negative number of seconds, fractions allowed (`--drain-seconds 0.5`). */
export function parseSeconds(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError("expected a number of seconds >= 0.");
  return n;
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A duration in milliseconds from `500ms`, `30s`, `5m`, `1h`; a bare number means seconds. */
export function parseDuration(value: string): number {
  const m = DURATION.exec(value.trim());
  if (!m?.[1]) throw new InvalidArgumentError("expected a duration such as 500ms, 30s, 5m.");
  const ms = Number(m[1]) * (UNIT_MS[m[2] ?? "s"] ?? 1000);
  if (ms <= 0) throw new InvalidArgumentError("expected a duration above zero.");
  return Math.round(ms);
}

/** A lane tag token (config/lane-tag.ts), so it can be written into headers as is. */
export function parseTag(value: string): string {
  if (!isLaneTag(value))
    throw new InvalidArgumentError(
      "a tag is 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit.",
    );
  return value;
}

/** A header name as RFC 9110 allows (token), lower-cased. */
export function parseHeaderName(value: string): string {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(value))
    throw new InvalidArgumentError("expected an HTTP header name.");
  return value.toLowerCase();
}

/** commander accumulator for repeatable single-value flags (`-f a -f b`). */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * Lists may come from repeated flags or from one env value; env values (and flag values) are
 * split on commas, so `LANEMESH_RULES=a.yaml,b.yaml` works.
 */
export function splitList(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}
