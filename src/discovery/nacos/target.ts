// What `--discovery nacos://HOST:PORT?namespace=…&group=…` asks for, parsed and checked; pure, it never talks to Nacos.

const DEFAULT_PORT = 8848;
const DEFAULT_GROUP = "DEFAULT_GROUP";
const PARAMS = ["namespace", "group", "services", "register"] as const;

export interface NacosTarget {
  /** host:port */
  serverAddr: string;
  /** "" = public */
  namespace: string;
  /** default DEFAULT_GROUP */
  group: string;
  /** null = every service of the namespace+group */
  services: string[] | null;
  /** default true */
  register: boolean;
}

/**
 * `nacos://HOST[:PORT]?namespace=…&group=…&services=a,b&register=false`. Port 8848 by default;
 * `namespace=public` is the public namespace (""), as Nacos reads it.
 */
export function parseNacosUrl(url: string): NacosTarget | { error: string } {
  const bad = (why: string) => ({ error: `bad Nacos URL "${url}": ${why}` });
  if (!url.startsWith("nacos://")) return bad("it must start with nacos://");
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return bad("not a URL (expected nacos://HOST:PORT?namespace=…&group=…)");
  }
  if (u.hostname === "") return bad("missing host (expected nacos://HOST:PORT)");
  if (u.username !== "" || u.password !== "")
    return bad("credentials in the URL are not supported");
  if (u.pathname !== "" && u.pathname !== "/") return bad(`unexpected path "${u.pathname}"`);
  if (u.hash !== "") return bad("unexpected #fragment");
  // URL accepts only 0..65535 and drops a port equal to the scheme default (none for nacos:).
  const port = u.port === "" ? DEFAULT_PORT : Number(u.port);
  if (port === 0) return bad("port 0 is not a Nacos port");
  const seen = new Set<string>();
  for (const key of u.searchParams.keys()) {
    if (!(PARAMS as readonly string[]).includes(key))
      return bad(`unknown parameter "${key}" (known: ${PARAMS.join(", ")})`);
    if (seen.has(key)) return bad(`parameter "${key}" given twice`);
    seen.add(key);
  }
  const q = u.searchParams;
  const namespace = q.get("namespace") ?? "";
  const group = q.get("group") ?? DEFAULT_GROUP;
  if (group === "") return bad("group= is empty (leave it out for DEFAULT_GROUP)");
  if (group.includes("@@") || namespace.includes("@@")) return bad('"@@" is not allowed in names');
  let services: string[] | null = null;
  const listed = q.get("services");
  if (listed !== null) {
    const names = listed.split(",").map((s) => s.trim());
    if (names.some((s) => s === ""))
      return bad("services= needs comma-separated names (leave it out to follow every service)");
    if (names.some((s) => s.includes("@@"))) return bad('"@@" is not allowed in service names');
    services = [...new Set(names)];
  }
  const reg = q.get("register");
  if (reg !== null && reg !== "true" && reg !== "false")
    return bad(`register must be true or false, not "${reg}"`);
  return {
    serverAddr: `${u.hostname}:${port}`,
    namespace: namespace === "public" ? "" : namespace,
    group,
    services,
    register: reg !== "false",
  };
}
