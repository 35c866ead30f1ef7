// Starting a control plane: its state opened from the store, its gRPC and HTTP listeners bound, and one close for all; it decides nothing about configs.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ControlPlane, type ControlPlaneOptions } from "./control-plane.js";
import { createHttpApi } from "./http-api.js";
import { isLoopback } from "./identity.js";

export interface ListenOptions {
  bind?: string;
  grpcPort?: number;
  httpPort?: number;
}

export interface RunningControlPlane {
  controlPlane: ControlPlane;
  /** The HTTP API's admin token (for the CLI's --token). */
  adminToken: string;
  grpcPort: number;
  httpPort: number;
  /** `host:port` for proxies' `--control-plane`. */
  grpcTarget: string;
  /** Base URL of the HTTP API. */
  url: string;
  close(): Promise<void>;
}

/** Open the store and listen on gRPC and HTTP (ports 0 = any free port). */
export async function startControlPlane(
  opts: ControlPlaneOptions & ListenOptions,
): Promise<RunningControlPlane> {
  const cp = await ControlPlane.open(opts);
  const bind = opts.bind ?? "127.0.0.1";
  let http: Server | undefined;
  try {
    const grpcPort = await cp.mesh.listen(bind, opts.grpcPort ?? 15010);
    http = createHttpApi(cp, { adminToken: cp.adminToken, readsOpen: isLoopback(bind) });
    const server = http;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.httpPort ?? 15014, bind, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const httpPort = (server.address() as AddressInfo).port;
    const host = bind.includes(":") ? `[${bind}]` : bind;
    cp.log.info(
      { grpc: `${host}:${grpcPort}`, http: `${host}:${httpPort}` },
      "control plane listening",
    );
    return {
      controlPlane: cp,
      adminToken: cp.adminToken,
      grpcPort,
      httpPort,
      grpcTarget: `${host}:${grpcPort}`,
      url: `http://${host}:${httpPort}`,
      close: async () => {
        cp.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (err) {
    cp.close();
    http?.close();
    throw err;
  }
}
