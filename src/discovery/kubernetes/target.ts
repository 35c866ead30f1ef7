// What `--discovery kubernetes[?namespace=…&port=…]` asks for, parsed and checked, and the namespace a pod runs in; pure apart from reading the pod's own namespace, it never talks to the API server.
import { readFileSync } from "node:fs";

/** What `--discovery kubernetes[?namespace=…&port=…]` asks for. */
export interface KubernetesTarget {
  /**
   * Namespaces to follow; null = the pod's own namespace: env POD_NAMESPACE, else the service
   * account's namespace file, else "default".
   */
  namespaces: string[] | null;
  /** EndpointSlice port name to use; null = the port named "http", else the first TCP port. */
  port: string | null;
}

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

// Namespaces and Service port names are DNS-1123 labels.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `kubernetes` | `kubernetes?namespace=mall,shop&port=http`. */
export function parseKubernetesSpec(spec: string): KubernetesTarget | { error: string } {
  const usage = `expected "kubernetes" or "kubernetes?namespace=NS[,NS…]&port=NAME"`;
  if (spec === "kubernetes") return { namespaces: null, port: null };
  if (!spec.startsWith("kubernetes?")) return { error: `${usage}, got ${JSON.stringify(spec)}` };
  const query = spec.slice("kubernetes?".length);
  if (query === "") return { error: `nothing after "?" in ${JSON.stringify(spec)}: ${usage}` };
  const target: KubernetesTarget = { namespaces: null, port: null };
  const seen = new Set<string>();
  for (const part of query.split("&")) {
    if (part === "") return { error: `empty parameter in ${JSON.stringify(spec)}: ${usage}` };
    const eq = part.indexOf("=");
    const key = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? undefined : part.slice(eq + 1);
    if (key !== "namespace" && key !== "port") {
      return { error: `unknown parameter ${JSON.stringify(key)}: expected namespace or port` };
    }
    if (seen.has(key)) return { error: `parameter ${JSON.stringify(key)} given twice` };
    seen.add(key);
    if (value === undefined || value === "") {
      return {
        error: `parameter ${JSON.stringify(key)} needs a value (${key === "namespace" ? "namespace=NS[,NS…]" : "port=NAME"})`,
      };
    }
    if (key === "namespace") {
      const names = value.split(",");
      for (const ns of names) {
        if (ns === "") return { error: `empty namespace in ${JSON.stringify(value)}` };
        if (ns.length > 63 || !DNS_LABEL.test(ns)) {
          return {
            error: `bad namespace ${JSON.stringify(ns)}: a namespace is a DNS label (lower-case letters, digits and "-", at most 63 characters)`,
          };
        }
      }
      const dup = names.find((ns, i) => names.indexOf(ns) !== i);
      if (dup !== undefined) return { error: `namespace ${JSON.stringify(dup)} listed twice` };
      target.namespaces = names;
    } else {
      // Service (and so EndpointSlice) port names are DNS labels; a name made of digits only is
      // refused because it reads as a port number, which this parameter does not take.
      if (value.length > 63 || !DNS_LABEL.test(value) || !/[a-z]/.test(value)) {
        return {
          error: `bad port ${JSON.stringify(value)}: give the EndpointSlice port's name (a DNS label with a letter, e.g. http), not its number`,
        };
      }
      target.port = value;
    }
  }
  return target;
}

/** The namespace this process runs in, when the target names none. */
export function ownNamespace(): string {
  const env = process.env.POD_NAMESPACE?.trim();
  if (env && DNS_LABEL.test(env)) return env;
  try {
    const file = readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim();
    if (DNS_LABEL.test(file)) return file;
  } catch {
    // Not in a pod (or no service account mounted): fall through to "default".
  }
  return "default";
}
