// Small pieces every Kubernetes call of the control plane shares: a bound on each request's time, and one line about a failed call; it makes no call itself.
import type { RequestContext, ResponseContext } from "@kubernetes/client-node";
import { statusOf } from "./kube-versions.js";

type Client = typeof import("@kubernetes/client-node");

/** How long one list, read or write may take (the client sets no limit). */
export const CALL_TIMEOUT_MS = 30_000;

/** Request options middleware: abort the call after CALL_TIMEOUT_MS. */
export function timeoutMiddleware(k8s: Client) {
  return {
    pre: (ctx: RequestContext) => {
      ctx.setSignal(AbortSignal.timeout(CALL_TIMEOUT_MS));
      return new k8s.Observable(Promise.resolve(ctx));
    },
    post: (rsp: ResponseContext) => new k8s.Observable(Promise.resolve(rsp)),
  };
}

/** One line about a failed call: the API server's Status message when it sent one. */
export function firstLine(err: unknown): string {
  const status = statusOf(err);
  const body = (err as { body?: unknown })?.body;
  if (typeof body === "string") {
    try {
      const m = (JSON.parse(body) as { message?: unknown }).message;
      if (typeof m === "string") return `${status ?? ""} ${m}`.trim();
    } catch {
      // not a Status
    }
  }
  return ((err as Error)?.message ?? String(err)).split("\n")[0] ?? "";
}
