// The resources the control-plane fan-out benchmark applies: the small set whose lane condition each
// apply changes, and the large set of the 10,000-lane case (valid per src/config/validate.ts) with
// the one lane its applies toggle; plain data, no I/O.

const API_VERSION = "lanemesh.io/v1alpha1";
const meta = (name: string) => ({ apiVersion: API_VERSION, metadata: { name } });

/** Lanes per LaneGroup in the large set (tags are unique within a group). */
export const LANES_PER_GROUP = 100;

/** The small set: one route, one group, the `gray` lane whose condition value is `marker`. */
export function smallSet(marker: string): unknown[] {
  return [
    {
      ...meta("up-route"),
      kind: "Route",
      spec: { gateway: "default", match: { prefix: "/" }, service: "sc-up" },
    },
    {
      ...meta("bench"),
      kind: "LaneGroup",
      spec: {
        entry: { gateway: "default", routes: ["up-route"] },
        apps: ["sc-up"],
        mode: "content",
      },
    },
    {
      ...meta("gray"),
      kind: "Lane",
      spec: {
        group: "bench",
        tag: "gray",
        enabled: true,
        match: {
          mode: "all",
          conditions: [{ type: "header", name: "canary", op: "==", value: marker }],
        },
      },
    },
    {
      ...meta("up-base"),
      kind: "Instance",
      spec: { service: "sc-up", address: "127.0.0.1", port: 18080 },
    },
    {
      ...meta("up-gray"),
      kind: "Instance",
      spec: { service: "sc-up", address: "127.0.0.1", port: 18081, tag: "gray" },
    },
  ];
}

/** Lane `i` of the large set (group `g<i / 100>`, tag `t<i % 100>`), open or closed. */
export function largeLane(i: number, enabled = true): unknown {
  const g = Math.floor(i / LANES_PER_GROUP);
  return {
    ...meta(`lane-${i}`),
    kind: "Lane",
    spec: {
      group: `g${g}`,
      tag: `t${i % LANES_PER_GROUP}`,
      enabled,
      apps: [`svc-${g}-a`],
      match: {
        mode: "all",
        conditions: [
          { type: "header", name: "x-user-group", op: "==", value: `group-${i}` },
          { type: "cookie", name: "beta", op: "in", values: ["1", "yes"] },
        ],
      },
    },
  };
}

/**
 * The large set in apply batches of at most `perBatch` documents (the HTTP API takes 10,000 per
 * request): one Route, LaneGroup and two Instances per 100 lanes, then the lanes in order.
 */
export function largeSetBatches(lanes: number, perBatch = 2500): unknown[][] {
  const docs: unknown[] = [];
  const groups = Math.ceil(lanes / LANES_PER_GROUP);
  for (let g = 0; g < groups; g++) {
    const apps = [`svc-${g}-a`, `svc-${g}-b`];
    docs.push(
      {
        ...meta(`route-${g}`),
        kind: "Route",
        spec: { gateway: "default", match: { prefix: `/g${g}/` }, service: apps[0] },
      },
      {
        ...meta(`g${g}`),
        kind: "LaneGroup",
        spec: { entry: { gateway: "default", routes: [`route-${g}`] }, apps, mode: "content" },
      },
      {
        ...meta(`svc-${g}-a-base`),
        kind: "Instance",
        spec: { service: apps[0], address: "127.0.0.1", port: 30000 + g },
      },
      {
        ...meta(`svc-${g}-b-base`),
        kind: "Instance",
        spec: { service: apps[1], address: "127.0.0.1", port: 40000 + g },
      },
    );
  }
  for (let i = 0; i < lanes; i++) docs.push(largeLane(i));
  const batches: unknown[][] = [];
  for (let at = 0; at < docs.length; at += perBatch) batches.push(docs.slice(at, at + perBatch));
  return batches;
}
