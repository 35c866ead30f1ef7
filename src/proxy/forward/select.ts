// The forwarder a listener is built with: each request goes to the instance in the protocol it came in (HTTP/2 → h2/, anything else → h1/); it never picks instances nor decides lanes.
import type { ForwardCall, Forwarder, ForwardJob, ForwardOutcome, Upstream } from "./contract.js";

/** Dispatches on the job's `h2` sink: set for a request that came over HTTP/2. */
export class ByProtocol implements Forwarder {
  constructor(
    readonly h1: Forwarder,
    readonly h2: Forwarder,
  ) {}

  forward(call: ForwardCall): Promise<ForwardOutcome> {
    return (call.h2 ? this.h2 : this.h1).forward(call);
  }

  dispatch(job: ForwardJob): void {
    (job.h2 ? this.h2 : this.h1).dispatch(job);
  }

  retain(keep: Iterable<Upstream>): void {
    const list = [...keep];
    this.h1.retain(list);
    this.h2.retain(list);
  }

  async close(): Promise<void> {
    await Promise.all([this.h1.close(), this.h2.close()]);
  }

  async destroy(): Promise<void> {
    await Promise.all([this.h1.destroy(), this.h2.destroy()]);
  }
}
