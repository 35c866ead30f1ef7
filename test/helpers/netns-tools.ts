// Test helper run inside the test's network namespaces (`node netns-tools.js COMMAND …`): an echo server, a raw TCP client, an HTTP client and a readiness wait; no assertions here, it reports on stdout.
import { request } from "node:http";
import { connect, createServer } from "node:net";

/*
 * echo-server PORT…        on 0.0.0.0: echoes what it receives; at the client's FIN it sends
 *                          all it received, reversed, then FIN. Prints "ready" once listening.
 * tcp-client HOST PORT     stdin → the server, then FIN; the server's bytes → stdout; exit 1
 *                          with the error on stderr.
 * http-get COUNT URL [NAME:VALUE…]   COUNT sequential GETs; one JSON line {status, body} each.
 * http-get-each URL…                 one GET per URL, in order; one JSON line each.
 * wait-http TIMEOUT_MS URL…          every URL answers 200 (polled), else exit 1 naming the last
 *                                    failure.
 */

const [command, ...args] = process.argv.slice(2);

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

function get(
  url: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, agent: false, timeout: 15_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function main(): Promise<void> {
  switch (command) {
    case "echo-server": {
      let listening = 0;
      for (const port of args.map(Number)) {
        const server = createServer({ allowHalfOpen: true }, (s) => {
          const got: Buffer[] = [];
          s.on("data", (d: Buffer) => {
            got.push(d);
            s.write(d);
          });
          s.on("end", () => s.end(Buffer.concat(got).reverse()));
          s.on("error", () => s.destroy());
        });
        server.listen(port, "0.0.0.0", () => {
          if (++listening === args.length) process.stdout.write("ready\n");
        });
      }
      return;
    }
    case "tcp-client": {
      const [host, port] = args;
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const s = connect({ host: host as string, port: Number(port), allowHalfOpen: true });
      const got: Buffer[] = [];
      s.on("connect", () => s.end(Buffer.concat(chunks)));
      s.on("data", (d: Buffer) => got.push(d));
      s.on("error", (err: NodeJS.ErrnoException) => fail(`tcp-client: ${err.code ?? err.message}`));
      s.on("close", (hadError) => {
        if (!hadError) process.stdout.write(Buffer.concat(got));
      });
      return;
    }
    case "http-get": {
      const [count, url, ...rest] = args;
      const headers: Record<string, string> = {};
      for (const h of rest) {
        const colon = h.indexOf(":");
        headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
      }
      for (let i = 0; i < Number(count); i++) {
        const r = await get(url as string, headers).catch((err: Error) => ({
          status: 0,
          body: `ERROR ${err.message}`,
        }));
        process.stdout.write(`${JSON.stringify(r)}\n`);
      }
      return;
    }
    case "http-get-each": {
      for (const url of args) {
        const r = await get(url, {}).catch((err: Error) => ({
          status: 0,
          body: `ERROR ${err.message}`,
        }));
        process.stdout.write(`${JSON.stringify(r)}\n`);
      }
      return;
    }
    case "wait-http": {
      const [timeout, ...urls] = args;
      const deadline = Date.now() + Number(timeout);
      for (const url of urls) {
        let delay = 20;
        for (;;) {
          const r = await get(url, {}).catch((err: Error) => ({ status: 0, body: err.message }));
          if (r.status === 200) break;
          if (Date.now() > deadline)
            fail(`wait-http: ${url} answered ${r.status} ${r.body.slice(0, 300)}`);
          await new Promise((resolve) => setTimeout(resolve, delay));
          delay = Math.min(delay * 2, 250);
        }
      }
      return;
    }
    default:
      fail(`netns-tools: unknown command ${command}`);
  }
}

await main();
