// The V8 heap setting a sidecar gives itself at start (the old generation's growth between full collections); it sets one flag and starts nothing.
import { setFlagsFromString } from "node:v8";

/**
 * How far the old generation may grow over what the last full collection kept, in percent. V8's
 * own factor goes up to 4× (with a sidecar's 12 MB of live objects, RSS after saturation reached
 * about 100 MB); at 20 % the next limit is the live size plus its minimum step (8 MB), and the
 * peak stays near 75 MB (bench/README.md, "Memory, round two").
 */
export const OLD_SPACE_GROWTH_PERCENT = 20;

/**
 * Sets `--heap-growing-percent` in the running process. V8 reads that flag each time it sets the
 * next old-generation limit, so it takes effect without a restart (unlike the young generation's
 * size, fixed when the heap is created), and Node refuses it in NODE_OPTIONS. Left alone when node
 * was started with its own value. Returns the flag set, or null.
 */
export function limitOldSpaceGrowth(execArgv: readonly string[] = process.execArgv): string | null {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return null;
  const flag = `--heap-growing-percent=${OLD_SPACE_GROWTH_PERCENT}`;
  setFlagsFromString(flag);
  return flag;
}
