// The open-loop generator's clock: a worker thread that posts the index of each scheduled send when
// its time comes (futex sleep plus a short spin); it sends no request and measures nothing itself.
import { parentPort, workerData } from "node:worker_threads";

/** What the generator hands the ticker: times in ns relative to `baseNs` (a hrtime.bigint()). */
export interface TickerData {
  baseNs: string;
  startNs: number;
  intervalNs: number;
  count: number;
  /** Wake this many ns early from the futex sleep and spin the rest (timer slack is ~50 µs). */
  spinNs: number;
}

const data = workerData as TickerData;
const base = BigInt(data.baseNs);
const cell = new Int32Array(new SharedArrayBuffer(4));
const now = () => Number(process.hrtime.bigint() - base);

let i = 0;
while (i < data.count) {
  const target = data.startNs + i * data.intervalNs;
  let remaining = target - now();
  if (remaining > data.spinNs) {
    Atomics.wait(cell, 0, 0, (remaining - data.spinNs) / 1e6);
    continue;
  }
  while (remaining > 0) remaining = target - now();
  // Every send already due goes in one message (the generator sends them all at once).
  const t = now();
  let last = i;
  while (last + 1 < data.count && data.startNs + (last + 1) * data.intervalNs <= t) last++;
  parentPort?.postMessage(last);
  i = last + 1;
}
