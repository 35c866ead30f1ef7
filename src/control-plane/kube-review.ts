// `--proxy-auth kubernetes`: a proxy's projected ServiceAccount token checked with the API server's TokenReview, and its pod read for the IP and labels its hello is bound to; it loads the Kubernetes client only when used and never caches an identity.

import * as grpc from "@grpc/grpc-js";
import type { KubeConfig, V1Pod } from "@kubernetes/client-node";
import { AuthError, type PodFacts, type ProxyAuthenticator, unauthenticated } from "./identity.js";

/** The audience the proxies' projected tokens are made for (serviceAccountToken.audience). */
export const TOKEN_AUDIENCE = "lanemesh";

const POD_NAME = "authentication.kubernetes.io/pod-name";
const POD_UID = "authentication.kubernetes.io/pod-uid";
const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/;

export interface KubernetesAuthOptions {
  /** Default: in a pod its own service account, elsewhere KUBECONFIG or ~/.kube/config. */
  kubeConfig?: KubeConfig;
  audience?: string;
}

const unavailable = (m: string) => new AuthError(grpc.status.UNAVAILABLE, "auth_unavailable", m);

function statusOf(err: unknown): number | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === "number" ? c : undefined;
}

/** The facts of a pod the token review named; labels as injection and discovery read them (docs/kubernetes.md). */
export function podFacts(pod: V1Pod, namespace: string, name: string): PodFacts | null {
  const ip = pod.status?.podIP;
  if (!ip) return null;
  const labels = pod.metadata?.labels ?? {};
  const tag = labels["lanemesh.io/tag"];
  return {
    namespace,
    name,
    ip,
    app: labels["app.kubernetes.io/name"] ?? labels.app ?? null,
    tag: tag === undefined || tag === "" || tag.toLowerCase() === "base" ? null : tag,
    gateway: labels["lanemesh.io/gateway"] ?? null,
  };
}

/**
 * Identity = namespace + service account + pod, from a TokenReview of the stream's bearer token
 * (audience `lanemesh`, bound to a pod: a projected token). The API server being unreachable or
 * refusing the control plane is UNAVAILABLE (the proxy retries), not a verdict on the proxy.
 */
export async function kubernetesAuthenticator(
  opts: KubernetesAuthOptions = {},
): Promise<ProxyAuthenticator> {
  const k8s = await import("@kubernetes/client-node");
  let kc = opts.kubeConfig;
  if (!kc) {
    kc = new k8s.KubeConfig();
    kc.loadFromDefault();
  }
  const auth = kc.makeApiClient(k8s.AuthenticationV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const audience = opts.audience ?? TOKEN_AUDIENCE;
  return {
    mode: "kubernetes",
    async authenticate(token) {
      if (token === undefined)
        throw unauthenticated(
          `no credential: mount a projected ServiceAccount token (audience ${audience}) at --token-file`,
        );
      let review: Awaited<ReturnType<typeof auth.createTokenReview>>;
      try {
        review = await auth.createTokenReview({
          body: {
            apiVersion: "authentication.k8s.io/v1",
            kind: "TokenReview",
            spec: { token, audiences: [audience] },
          },
        });
      } catch (err) {
        const code = statusOf(err);
        throw unavailable(
          code === 401 || code === 403
            ? `the API server refused the control plane's TokenReview (${code}): grant its service account system:auth-delegator`
            : `TokenReview failed: ${(err as Error).message}`,
        );
      }
      const st = review.status;
      if (st?.authenticated !== true)
        throw unauthenticated(
          `token refused by the API server: ${st?.error || "not authenticated"}`,
        );
      if (st.audiences && !st.audiences.includes(audience))
        throw unauthenticated(`token is not for audience ${audience}`);
      const user = SA_USER.exec(st.user?.username ?? "");
      if (!user) throw unauthenticated(`${st.user?.username ?? "?"} is not a service account`);
      const [, namespace, account] = user as unknown as [string, string, string];
      const podName = st.user?.extra?.[POD_NAME]?.[0];
      if (!podName)
        throw unauthenticated(
          `the token of ${namespace}/${account} is not bound to a pod (use a projected token)`,
        );
      let pod: V1Pod;
      try {
        pod = await core.readNamespacedPod({ name: podName, namespace });
      } catch (err) {
        if (statusOf(err) === 404)
          throw unauthenticated(`pod ${namespace}/${podName} of the token does not exist`);
        throw unavailable(`cannot read pod ${namespace}/${podName}: ${(err as Error).message}`);
      }
      const uid = st.user?.extra?.[POD_UID]?.[0];
      if (uid && pod.metadata?.uid && uid !== pod.metadata.uid)
        throw unauthenticated(`pod ${namespace}/${podName} was replaced since the token was made`);
      const facts = podFacts(pod, namespace, podName);
      if (!facts) throw unavailable(`pod ${namespace}/${podName} has no IP yet`);
      return {
        key: `k8s:${namespace}/${account}/${podName}`,
        subject: `service account ${namespace}/${account} (pod ${podName})`,
        role: facts.gateway !== null ? "gateway" : "sidecar",
        services: facts.app === null ? [] : [facts.app],
        gateways: facts.gateway === null ? [] : [facts.gateway],
        pod: facts,
      };
    },
  };
}
