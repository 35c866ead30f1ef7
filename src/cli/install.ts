// `lanemesh install`: prints the Kubernetes manifests (CRDs with --crds, else the control plane and the injector) for `kubectl apply -f -`; flags only, the manifests are in src/kubernetes/install.ts.
import { type Command, InvalidArgumentError, Option } from "commander";
import { parsePositiveInt } from "./options.js";

interface Flags {
  crds: boolean;
  namespace: string;
  replicas: number;
  image?: string;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parseNamespace(value: string): string {
  if (!DNS_LABEL.test(value))
    throw new InvalidArgumentError("expected a namespace name (a DNS label: a-z, 0-9, '-').");
  return value;
}

export function register(program: Command): void {
  program
    .command("install")
    .description(
      "print the Kubernetes manifests: `lanemesh install --crds | kubectl apply -f -`, then `lanemesh install | kubectl apply -f -`",
    )
    .addOption(new Option("--crds", "print only the CustomResourceDefinitions").default(false))
    .addOption(
      new Option("--namespace <NS>", "the control plane's namespace")
        .argParser(parseNamespace)
        .default("lanemesh-system"),
    )
    .addOption(
      new Option("--replicas <N>", "control plane replicas").argParser(parsePositiveInt).default(2),
    )
    .addOption(new Option("--image <IMAGE>", "lanemesh image [ghcr.io/lanemesh/lanemesh:VERSION]"))
    .action(async (o: Flags) => {
      const { renderCrds, renderInstall, INSTALL_DEFAULTS } = await import(
        "../kubernetes/install.js"
      );
      process.stdout.write(
        o.crds
          ? renderCrds()
          : renderInstall({
              namespace: o.namespace,
              replicas: o.replicas,
              image: o.image ?? INSTALL_DEFAULTS.image,
            }),
      );
    });
}
