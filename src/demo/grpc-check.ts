// `lanemesh demo --protocol grpc`: the chains shown and the `--check` calls made as gRPC unary calls through the gateway, tallied like the HTTP answers; sending is the only I/O.
import * as grpc from "@grpc/grpc-js";
import { emptyTally, record, type Tally } from "./check.js";
import { type EchoClient, echoClient } from "./grpc-echo.js";

/** One unary call's answer as (status, text): 200 and the chain when OK, null and the error. */
function call(
  client: EchoClient,
  md: Record<string, string>,
): Promise<{ status: number | null; text: string }> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve) => {
    client.Unary({ text: "demo", n: 0 }, metadata, { deadline: Date.now() + 10_000 }, (err, out) =>
      resolve(
        err
          ? { status: null, text: `${grpc.status[err.code] ?? err.code}: ${err.details}` }
          : { status: 200, text: out?.text ?? "" },
      ),
    );
  });
}

/** The two chains as the demo prints them: the grpcurl command, then the answer. */
export async function grpcChains(
  gatewayPort: number,
  header: { name: string; value: string },
): Promise<string> {
  const client = echoClient(gatewayPort);
  try {
    const target = `127.0.0.1:${gatewayPort} lanemesh.demo.Echo/Unary`;
    const cmd = 'grpcurl -plaintext -import-path proto -proto echo.proto -d \'{"text":"demo"}\'';
    const base = await call(client, {});
    const gray = await call(client, { [header.name]: header.value });
    return (
      `$ ${cmd} ${target}\n${base.text}\n` +
      `$ ${cmd} -H '${header.name}: ${header.value}' ${target}\n${gray.text}\n\n`
    );
  } finally {
    client.close();
  }
}

/** `--check` over gRPC: `requests` unary calls, `concurrency` at a time, every other one marked. */
export async function runGrpcCheck(opts: {
  gatewayPort: number;
  requests: number;
  concurrency: number;
  header?: { name: string; value: string; lane: string };
  signal?: AbortSignal;
}): Promise<Tally> {
  const client = echoClient(opts.gatewayPort);
  const t = emptyTally();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.requests && !opts.signal?.aborted) {
      const i = next++;
      const h = opts.header;
      const marked = h !== undefined && i % 2 === 1;
      const r = await call(client, marked && h ? { [h.name]: h.value } : {});
      record(t, r.status, r.text, h === undefined ? undefined : marked ? h.lane : null);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  } finally {
    client.close();
  }
  return t;
}
