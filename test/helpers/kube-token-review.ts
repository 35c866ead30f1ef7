// Test helper: the TokenReview API (POST /apis/authentication.k8s.io/v1/tokenreviews) and single-pod GETs on the fake Kubernetes API server, answered as kube-apiserver does for projected ServiceAccount tokens; no assertions here.
import type { IncomingMessage, ServerResponse } from "node:http";
import { type FakeKubeApiServer, status } from "./kube-api-server.js";

/** What a projected token stands for: its service account, the pod it is bound to, its audience. */
export interface ServiceAccountToken {
  namespace: string;
  serviceAccount: string;
  pod: string;
  audience?: string;
}

const REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews";
const POD = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)$/;

function send(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Tokens the fake API server knows. A review of a known token whose audience matches answers
 * `authenticated: true` with `system:serviceaccount:NS:SA` and the pod-name/pod-uid extra claims;
 * any other token `authenticated: false` with the API server's error text.
 */
export class FakeTokenReviews {
  /** Every review asked for: the token, its audiences and the caller's Authorization header. */
  readonly reviews: { token: string; audiences: string[]; authorization: string | undefined }[] =
    [];
  /** While true, reviews answer 403 (a control plane without system:auth-delegator). */
  forbidden = false;
  private readonly tokens = new Map<string, ServiceAccountToken>();

  constructor(private readonly api: FakeKubeApiServer) {
    api.extensions.push((req, res) => this.handle(req, res));
  }

  issue(token: string, sa: ServiceAccountToken): void {
    this.tokens.set(token, sa);
  }

  private handle(req: IncomingMessage, res: ServerResponse): boolean {
    const path = new URL(req.url ?? "/", "http://fake").pathname;
    if (req.method === "POST" && path === REVIEWS) {
      let body = "";
      req.setEncoding("utf8").on("data", (d: string) => {
        body += d;
      });
      req.on("end", () => this.review(req, res, body));
      return true;
    }
    const pod = POD.exec(path);
    if (req.method === "GET" && pod) {
      const [, namespace, name] = pod as unknown as [string, string, string];
      const o = this.api.object("pods", namespace, name);
      if (!o) status(res, 404, "NotFound", `pods "${name}" not found`);
      else send(res, 200, { kind: "Pod", apiVersion: "v1", ...o });
      return true;
    }
    return false;
  }

  private review(req: IncomingMessage, res: ServerResponse, text: string): void {
    if (this.forbidden) {
      status(
        res,
        403,
        "Forbidden",
        'tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:lanemesh:control-plane" cannot create resource "tokenreviews"',
      );
      return;
    }
    const r = JSON.parse(text) as { spec?: { token?: string; audiences?: string[] } };
    const token = r.spec?.token ?? "";
    const audiences = r.spec?.audiences ?? [];
    this.reviews.push({ token, audiences, authorization: req.headers.authorization });
    const sa = this.tokens.get(token);
    const audience = sa?.audience ?? "lanemesh";
    const common = { kind: "TokenReview", apiVersion: "authentication.k8s.io/v1", metadata: {} };
    if (!sa || (audiences.length > 0 && !audiences.includes(audience))) {
      send(res, 201, {
        ...common,
        spec: r.spec,
        status: {
          user: {},
          error: sa
            ? `token audiences ["${audience}"] is invalid for the target audiences ${JSON.stringify(audiences)}`
            : "[invalid bearer token, token lookup failed]",
        },
      });
      return;
    }
    const pod = this.api.object("pods", sa.namespace, sa.pod);
    send(res, 201, {
      ...common,
      spec: r.spec,
      status: {
        authenticated: true,
        user: {
          username: `system:serviceaccount:${sa.namespace}:${sa.serviceAccount}`,
          uid: `uid-${sa.serviceAccount}`,
          groups: ["system:serviceaccounts", `system:serviceaccounts:${sa.namespace}`],
          extra: {
            "authentication.kubernetes.io/pod-name": [sa.pod],
            "authentication.kubernetes.io/pod-uid": [pod?.metadata.uid ?? "gone"],
          },
        },
        audiences: [audience],
      },
    });
  }
}
