// Test helpers for the control plane and sync tests: virtual clock, resource fixtures, a fake control plane; no assertions here.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { pino } from "pino";
import { fieldOfKind } from "../../src/protocol/delta.js";
import {
  type Ack,
  type Hello,
  type MeshServerStream,
  meshDefinition,
  type Nack,
  type ProxyMessage,
  type SnapshotMessage,
} from "../../src/protocol/wire.js";

export const silentLog = pino({ level: "silent" });

/** A logger whose records the test can wait for (`await logs.seen(/no persisted snapshot/)`). */
export function captureLog(): {
  log: pino.Logger;
  seen(msg: RegExp): Promise<Record<string, unknown>>;
} {
  const records: Record<string, unknown>[] = [];
  let waiters: (() => void)[] = [];
  const log = pino(
    { level: "debug" },
    {
      write(line: string) {
        records.push(JSON.parse(line) as Record<string, unknown>);
        const w = waiters;
        waiters = [];
        for (const f of w) f();
      },
    },
  );
  const seen = (msg: RegExp) =>
    new Promise<Record<string, unknown>>((resolve) => {
      const check = (): void => {
        const r = records.find((x) => msg.test(String(x.msg)));
        if (r) resolve(r);
        else waiters.push(check);
      };
      check();
    });
  return { log, seen };
}

export function tempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `lanemesh-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

const API = "lanemesh.io/v1alpha1";

export function route(name: string, prefix: string, service: string): unknown {
  return {
    apiVersion: API,
    kind: "Route",
    metadata: { name },
    spec: { gateway: "default", match: { prefix }, service },
  };
}

export function group(name: string, routes: string[], apps: string[], mode = "content"): unknown {
  return {
    apiVersion: API,
    kind: "LaneGroup",
    metadata: { name },
    spec: { entry: { gateway: "default", routes }, apps, mode },
  };
}

export function headerLane(name: string, groupName: string, tag: string, enabled = true): unknown {
  return {
    apiVersion: API,
    kind: "Lane",
    metadata: { name },
    spec: {
      group: groupName,
      tag,
      enabled,
      match: {
        mode: "all",
        conditions: [{ type: "header", name: "canary", op: "==", value: tag }],
      },
    },
  };
}

export function regexLane(name: string, groupName: string, tag: string, pattern: string): unknown {
  return {
    apiVersion: API,
    kind: "Lane",
    metadata: { name },
    spec: {
      group: groupName,
      tag,
      enabled: true,
      match: {
        mode: "all",
        conditions: [{ type: "header", name: "user", op: "regex", value: pattern }],
      },
    },
  };
}

export function instance(name: string, service: string, port: number, tag?: string): unknown {
  return {
    apiVersion: API,
    kind: "Instance",
    metadata: { name },
    spec: { service, address: "127.0.0.1", port, ...(tag ? { tag } : {}) },
  };
}

/** The seed scenario's rules: a-route → sc-a, group mall (a, b, c), lane gray on `canary: gray`. */
export function mallRules(): unknown[] {
  return [
    route("a-route", "/a", "sc-a"),
    group("mall", ["a-route"], ["sc-a", "sc-b", "sc-c"]),
    headerLane("gray", "mall", "gray"),
  ];
}

/** A snapshot message made of documents, as a control plane that skips validation would send. */
export function snapshotOf(
  version: string,
  nonce: string,
  docs: unknown[],
  epoch = "e1",
  adopts: string[] = [],
): SnapshotMessage {
  const s: SnapshotMessage = {
    version,
    nonce,
    routes: [],
    groups: [],
    lanes: [],
    endpoints: [],
    epoch,
    adopts,
  };
  for (const d of docs) {
    s[fieldOfKind((d as { kind: string }).kind) ?? "endpoints"].push(JSON.stringify(d));
  }
  return s;
}

type Answer = { kind: "ack"; ack: Ack } | { kind: "nack"; nack: Nack };

/**
 * A control plane for tests that speaks lanemesh.proto but validates nothing: it records hellos
 * and answers, and pushes whatever snapshot the test gives it. Can stop and listen again.
 */
export class FakeControlPlane {
  private server: grpc.Server | undefined;
  private readonly streams = new Set<MeshServerStream>();
  private readonly hellos: Hello[] = [];
  private readonly answers: Answer[] = [];
  private waiters: (() => void)[] = [];
  /** Sent to every new stream right after its hello, when set. */
  onHello: ((h: Hello) => SnapshotMessage | undefined) | undefined;
  port = 0;

  async listen(port = 0): Promise<number> {
    const server = new grpc.Server();
    server.addService(meshDefinition().service, {
      Stream: (call: MeshServerStream) => {
        this.streams.add(call);
        const drop = (): void => {
          this.streams.delete(call);
        };
        call.on("data", (m: ProxyMessage) => {
          if (m.message === "hello") {
            this.hellos.push(m.hello);
            const s = this.onHello?.(m.hello);
            if (s) call.write({ snapshot: s });
          } else if (m.message === "ack") this.answers.push({ kind: "ack", ack: m.ack });
          else if (m.message === "nack") this.answers.push({ kind: "nack", nack: m.nack });
          this.wake();
        });
        call.on("end", () => {
          drop();
          call.end();
        });
        call.on("cancelled", drop);
        call.on("error", drop);
      },
    });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.server = server;
    return this.port;
  }

  get target(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Push to every open stream. */
  push(s: SnapshotMessage): void {
    for (const c of this.streams) c.write({ snapshot: s });
  }

  /** Resolves once `n` hellos have been received in total. */
  async hello(n = 1): Promise<Hello> {
    await this.until(() => this.hellos.length >= n);
    return this.hellos[n - 1] as Hello;
  }

  /** Resolves with the answer to the push with `nonce`. */
  async answer(nonce: string): Promise<Answer> {
    const find = (): Answer | undefined =>
      this.answers.find((a) => (a.kind === "ack" ? a.ack.nonce : a.nack.nonce) === nonce);
    await this.until(() => find() !== undefined);
    return find() as Answer;
  }

  /** Stop at once: every stream is cut, as when the process is killed. */
  stop(): void {
    this.server?.forceShutdown();
    this.server = undefined;
    this.streams.clear();
  }

  private until(ok: () => boolean): Promise<void> {
    if (ok()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (ok()) resolve();
        else this.waiters.push(check);
      };
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

/** Resolves when `ok()` holds, checking at each notification of `subscribe`; rejects after `ms`. */
export function when(
  subscribe: (cb: () => void) => () => void,
  ok: () => boolean,
  what: string,
  ms = 10_000,
): Promise<void> {
  if (ok()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
    }, ms);
    const off = subscribe(() => {
      if (!ok()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
