// How a running wsgate learns it should stop: the first SIGINT or SIGTERM starts a graceful shutdown, a second one
// ends the process at once. Here rather than in cli/ because the workers' primary waits on it too, and nothing below
// the CLI may import the CLI.

/** Resolves on the first SIGINT or SIGTERM; a second one while stopping exits at once. */
export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      const force = () => process.exit(1);
      process.once('SIGINT', force);
      process.once('SIGTERM', force);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}
