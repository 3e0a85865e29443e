// How a running wsgate learns it should stop (the first SIGINT or SIGTERM starts a graceful shutdown, a second one
// ends the process at once) and that its log files were rotated (SIGUSR1 reopens them). Here rather than in cli/
// because the workers and their primary wait on them too, and nothing below the CLI may import the CLI.
import { type Logger, reopenLogFiles } from '../log/logger.ts';

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

/**
 * Reopens the log files on SIGUSR1 (logrotate's `postrotate`, as for nginx and Envoy) and says so in `log`. A
 * listener also keeps Node from doing what SIGUSR1 does by default: start its debugger on 127.0.0.1:9229, where any
 * local user could run code in wsgate. Returns the function that removes the listener.
 */
export function reopenLogsOnSignal(log: Logger, also?: () => void): () => void {
  const onSignal = () => {
    const files = reopenLogFiles();
    also?.();
    log.info(
      { event: 'log.reopened', files },
      files.length > 0 ? `SIGUSR1: reopened ${files.join(', ')}` : 'SIGUSR1: no log files to reopen',
    );
  };
  process.on('SIGUSR1', onSignal);
  return () => process.off('SIGUSR1', onSignal);
}
