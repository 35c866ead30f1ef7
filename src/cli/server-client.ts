// The CLI's side of talking to a control plane: the `--server` flag and kubectl-style resource references; the HTTP client itself is control-plane/api-client.ts.
import { Option } from "commander";
import { DEFAULT_SERVER } from "../control-plane/api-client.js";

/** `--server URL` (env LANEMESH_SERVER), shared by apply, get, delete and live explain. */
export function serverOption(): Option {
  return new Option("--server <URL>", "control plane HTTP API")
    .env("LANEMESH_SERVER")
    .default(DEFAULT_SERVER);
}

/** kubectl-style resource reference: `lane.lanemesh.io/gray`. */
export function resourceRef(kind: string, name: string): string {
  return `${kind.toLowerCase()}.lanemesh.io/${name}`;
}
