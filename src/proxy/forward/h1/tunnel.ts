// Upgrade tunnels (WebSocket and any HTTP/1.1 Upgrade): one fresh connection per upgrade, the request head sent with its Upgrade restored, the answer's head read, then bytes piped both ways; it never picks instances nor decides lanes.
import { connect, type Socket } from "node:net";
import { type ForwardJob, type ForwardOutcome, type Tunnel, upstreamKey } from "../contract.js";
import { requestHead } from "./request.js";

/*
 * The request went through the same stages as any other (edge checks, lane, route, pick), so a
 * WebSocket opened with `canary: gray` lands on the gray instance and its sidecar sees the tag.
 * Here the attempt differs from forwarder.ts's:
 * - A new connection per tunnel (a tunnel owns its connection for its whole life); connect
 *   timeout as the forwarder's.
 * - The head carries `connection: upgrade` and the client's `upgrade` value (both are hop-by-hop
 *   and were removed with the others); bytes the client sent after its head follow it.
 * - The answer's head (at most 16 KiB) gives the status for the outcome and the metrics; it goes to
 *   the client as received, then bytes flow both ways until either side closes, whatever the
 *   status (101, or a refusal such as 403, which the server ends by closing).
 * - Failures before any answer settle like the forwarder's (connect, reset: retryable, the
 *   handshake has no body); a peer sidecar's 503 LANEMESH_APP_UNAVAILABLE or LANEMESH_OVERLOADED
 *   is intercepted when asked, so the caller's hop tries another instance.
 * - Tunnels end with either side (its FIN or close), when the proxy stops (Listener.close destroys
 *   them; drain waits for them up to --drain-seconds), or when the listener finds one without a
 *   byte either way for --tunnel-idle-timeout (listen/watch.ts); the listener also bounds how many
 *   are open (--max-tunnels).
 */

const MAX_HEAD_BYTES = 16 * 1024;
const HEAD_END = Buffer.from("\r\n\r\n");
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/;
const PEER_REFUSAL = /\r\nx-lanemesh-error:[ \t]*LANEMESH_(APP_UNAVAILABLE|OVERLOADED)[ \t]*\r\n/i;

export function openTunnel(job: ForwardJob, tunnel: Tunnel, connectTimeoutMs: number): void {
  const client = tunnel.socket;
  const where = upstreamKey(job.upstream);
  if (client.destroyed) {
    job.settle({ ok: false, kind: "aborted", detail: "the client left", retryable: false });
    return;
  }
  const head = requestHead(
    {
      method: job.method,
      path: job.path,
      headers: [...job.headers, "connection", "upgrade", "upgrade", tunnel.protocol],
      body: null,
    },
    where,
  );
  if (head === null) {
    job.settle({
      ok: false,
      kind: "bad-request",
      detail: "a header value would add a line to the request head",
      retryable: false,
    });
    return;
  }

  const up: Socket = connect({ host: job.upstream.address, port: job.upstream.port });
  let connected = false;
  let settled = false;
  let received: Buffer[] = [];
  let size = 0;
  const settle = (outcome: ForwardOutcome): void => {
    settled = true;
    clearTimeout(timer);
    client.off("close", clientLeft);
    job.settle(outcome);
  };
  const fail = (
    kind: "connect" | "reset" | "protocol" | "app-unavailable" | "overloaded",
    detail: string,
  ) => {
    if (settled) return;
    up.destroy();
    settle({ ok: false, kind, detail, retryable: kind !== "protocol" });
  };
  const clientLeft = (): void => {
    if (settled) return;
    up.destroy();
    settle({ ok: false, kind: "aborted", detail: "the client left", retryable: false });
  };
  const timer = setTimeout(
    () => fail("connect", `connect to ${where} timed out after ${connectTimeoutMs} ms`),
    connectTimeoutMs,
  );
  client.once("close", clientLeft);

  up.once("connect", () => {
    connected = true;
    clearTimeout(timer);
    up.write(head.text, "latin1");
    if (tunnel.head.length > 0) up.write(tunnel.head);
  });
  up.on("error", (err: Error & { code?: string }) => {
    if (settled) {
      client.destroy();
      return;
    }
    if (!connected) {
      fail("connect", err.code === "ECONNREFUSED" ? `connection refused by ${where}` : err.message);
    } else {
      fail("reset", `${where}: ${err.message}`);
    }
  });
  up.on("close", () => {
    if (!settled) fail("reset", `${where} closed the connection before answering the upgrade`);
  });
  const onData = (chunk: Buffer): void => {
    received.push(chunk);
    size += chunk.length;
    const all = received.length === 1 ? chunk : Buffer.concat(received);
    const end = all.indexOf(HEAD_END);
    if (end === -1) {
      if (size > MAX_HEAD_BYTES) fail("protocol", `${where}: answer head over 16 KiB`);
      else received = [all];
      return;
    }
    up.off("data", onData);
    const text = all.subarray(0, end + 2).toString("latin1");
    const m = STATUS_LINE.exec(text);
    if (m === null) {
      fail("protocol", `${where}: the answer to the upgrade is not HTTP/1.1`);
      return;
    }
    const status = Number(m[1]);
    const refusal = status === 503 && job.interceptAppUnavailable ? PEER_REFUSAL.exec(text) : null;
    if (refusal !== null) {
      if (refusal[1]?.toUpperCase() === "OVERLOADED") fail("overloaded", `${where} is overloaded`);
      else fail("app-unavailable", `${where}: its app is unavailable`);
      return;
    }
    settle({ ok: true, status });
    client.write(all);
    job.onHead(status);
    // From here the two sockets are one pipe. Either side's end (FIN) ends the tunnel: both are
    // flushed and closed (a half-open tunnel would hold both connections for good, since proxy
    // and app sockets of an HTTP server stay half-open), and either side closing closes the other.
    up.pipe(client, { end: false });
    client.pipe(up, { end: false });
    const finish = (): void => {
      client.destroySoon();
      up.destroySoon();
    };
    up.on("end", finish);
    client.on("end", finish);
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
    client.on("error", () => up.destroy());
  };
  up.on("data", onData);
}
