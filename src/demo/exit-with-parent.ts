// Preloaded (`node --import`) into every child of `lanemesh demo`: the child exits when the demo's IPC channel closes, so no child outlives a killed demo; it does nothing else.

if (process.channel) {
  // The channel closes when the demo exits for any reason, SIGKILL included.
  process.on("disconnect", () => process.exit(0));
  // The listener above refs the channel; unref it so the child's own lifetime is unchanged.
  process.channel.unref();
}

export {};
