// The one pino logger of the process and its per-component children; never writes metrics.
import { pino } from "pino";

export type Logger = pino.Logger;

const level = process.env.LANEMESH_LOG_LEVEL ?? "info";

/** The root logger: JSON lines on stderr so stdout stays free for command output. */
export const rootLogger: Logger = pino({ level, base: { pid: process.pid } }, pino.destination(2));

/** A child logger for one component, e.g. `logger("outbound")`. */
export function logger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return rootLogger.child({ component, ...bindings });
}
