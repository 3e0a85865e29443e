// Shared pieces of the CLI: argument parsing with usage errors that carry the right exit code, and how an
// error is printed (message, hint, and for config errors every issue on its own line).
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { isWsgateError, WsgateError } from '../errors.ts';

export type Output = { out: (text: string) => void; err: (text: string) => void };

export const stdio: Output = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** parseArgs, with its TypeErrors turned into WSG_USAGE (exit 2) naming the command. */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig['options']>>(
  command: string,
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new WsgateError('WSG_USAGE', { detail: `${command}: ${(err as Error).message}` });
  }
}

export { describeFileError } from '../config/load.ts';

/** Prints an error for a person and returns the exit code: 2 for usage and config errors, 1 otherwise. */
export function reportError(
  err: unknown,
  io: Output,
  options: { hint?: boolean; command?: string | undefined } = {},
): number {
  if (isWsgateError(err)) {
    // Only a config's list of issues gets the heading: parseArgs's own messages (a flag's bad value) span lines too.
    const listsIssues = err.code === 'WSG_CONFIG_INVALID' && err.message.includes('\n');
    io.err(`wsgate: ${listsIssues ? `invalid configuration\n${err.message}` : err.message}`);
    // A usage error points at the help of the command it was made in, where its options are, not at the list of
    // commands.
    const hint =
      err.code === 'WSG_USAGE' && options.command !== undefined
        ? `Run \`wsgate ${options.command} --help\` for its options.`
        : err.hint;
    if (hint && options.hint !== false) io.err(`hint: ${hint}`);
    return err.exitCode;
  }
  io.err(`wsgate: unexpected error: ${(err as Error)?.stack ?? String(err)}`);
  return 1;
}
