// `lanemesh inject -f FILE|-`: adds the sidecar to every pod template of a manifest (as `istioctl kube-inject`) and prints the result; flags and I/O only, the mutation is in src/kubernetes/inject.ts.
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";

interface Flags {
  filename: string;
  legacy: boolean;
  image?: string;
  controlPlaneNamespace: string;
}

async function readInput(file: string): Promise<string> {
  if (file !== "-") return readFileSync(file, "utf8");
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export function register(program: Command): void {
  program
    .command("inject")
    .description(
      "add the lanemesh sidecar and the interception init container to every pod template (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob, Pod, List); prints the result",
    )
    .requiredOption("-f, --filename <FILE>", "manifest to read; - = standard input")
    .addOption(
      new Option(
        "--legacy",
        "the sidecar as a plain container (clusters before Kubernetes 1.29, no native sidecars)",
      ).default(false),
    )
    .addOption(new Option("--image <IMAGE>", "lanemesh image [ghcr.io/lanemesh/lanemesh:VERSION]"))
    .addOption(
      new Option("--control-plane-namespace <NS>", "where `lanemesh install` put the control plane")
        .default("lanemesh-system")
        .argParser((v: string) => {
          if (!/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(v))
            throw new InvalidArgumentError("expected a namespace name.");
          return v;
        }),
    )
    .action(async (o: Flags) => {
      const [{ injectYaml }, { INJECT_DEFAULTS }] = await Promise.all([
        import("../kubernetes/inject-files.js"),
        import("../kubernetes/inject.js"),
      ]);
      let text: string;
      try {
        text = await readInput(o.filename);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        process.stderr.write(
          `error: cannot read ${o.filename}: ${code === "ENOENT" ? "no such file" : (err as Error).message}\n`,
        );
        process.exitCode = 1;
        return;
      }
      let out: ReturnType<typeof injectYaml>;
      try {
        out = injectYaml(text, {
          ...INJECT_DEFAULTS,
          legacy: o.legacy,
          image: o.image ?? INJECT_DEFAULTS.image,
          controlPlaneNamespace: o.controlPlaneNamespace,
        });
      } catch (err) {
        process.stderr.write(`error: ${o.filename}: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      for (const r of out.results)
        if (r.warn) process.stderr.write(`warning: ${r.workload}: not injected: ${r.reason}\n`);
      process.stdout.write(out.text);
    });
}
