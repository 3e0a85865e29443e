#!/usr/bin/env -S node --max-semi-space-size=2
// wsgate's command line: picks the command, runs it, and turns what happened into an exit code
// (0 ok, 1 runtime failure, 2 usage or config error).
import { isWsgateError } from '../errors.ts';
import { type Output, reportError, stdio } from './args.ts';
import { packageVersion } from './version.ts';

export const MAIN_HELP = `Usage: wsgate [command] [options]

A WebSocket-aware HTTP proxy: a reverse proxy in front of app servers that shows
every WebSocket handshake and connection it carries.

Commands:
  run        start wsgate (the default command)       wsgate run [-c FILE]
  check      validate a config file and print it      wsgate check -c FILE
  echo       run the built-in echo server alone       wsgate echo [--port P]
  tail       render a traffic log for people          wsgate tail [FILE] [-f]
  ca         wsgate's CA for TLS interception         wsgate ca init | export | trust-help
  probe      why a WebSocket cannot get through       wsgate probe URL [--proxy URL] [--json]
  upstreams  a running wsgate's server pools, drain   wsgate upstreams [drain|ready|close NAME N]

Options:
  -h, --help      show help (also: wsgate COMMAND --help)
  -v, --version   print the version

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
`;

type Command = (argv: string[], io: Output) => Promise<number>;

// Each command's modules are imported when it runs: `wsgate run` then carries neither the probe, the CA tool nor
// the log renderer in its heap, and `wsgate check` starts without the proxy.
const COMMANDS: Record<string, () => Promise<Command>> = {
  run: async () => (await import('./run.ts')).runCommand,
  check: async () => (await import('./check.ts')).checkCommand,
  echo: async () => (await import('./echo.ts')).echoCommand,
  tail: async () => (await import('./tail.ts')).tailCommand,
  ca: async () => (await import('./ca.ts')).caCommand,
  probe: async () => (await import('./probe.ts')).probeCommand,
  upstreams: async () => (await import('./upstreams.ts')).upstreamsCommand,
};

export async function main(argv: string[], io: Output = stdio): Promise<number> {
  const [first, ...rest] = argv;
  // `wsgate help run` is `wsgate run --help`, as git and npm take it; help on a command there is not is that
  // command unknown, said as for `wsgate nope`.
  if (first === 'help' && rest[0] !== undefined && rest[0] !== 'help') {
    const topic = COMMANDS[rest[0]];
    if (topic !== undefined) return (await topic())(['--help'], io);
    io.err(`wsgate: unknown command "${rest[0]}"\n\n${MAIN_HELP}`);
    return 2;
  }
  if (first === '-h' || first === '--help' || first === 'help') {
    io.out(MAIN_HELP);
    return 0;
  }
  if (first === '-v' || first === '--version') {
    io.out(packageVersion());
    return 0;
  }
  const command = first !== undefined && !first.startsWith('-') ? COMMANDS[first] : COMMANDS['run'];
  if (!command) {
    io.err(`wsgate: unknown command "${first}"\n\n${MAIN_HELP}`);
    return 2;
  }
  const args = first !== undefined && !first.startsWith('-') ? rest : argv;
  const name = first !== undefined && !first.startsWith('-') ? first : 'run';
  // A reader that stops early (`wsgate tail FILE | head`) ends the output, not with a stack trace: as cat does.
  // `run` keeps Node's default: its log destinations handle their own errors.
  if (io === stdio && command !== COMMANDS['run']) process.stdout.on('error', quietOnEpipe);
  try {
    return await (await command())(args, io);
  } catch (err) {
    // A config's issues carry the hint to run `wsgate check -c FILE`: not said to someone running just that.
    const selfHint = name === 'check' && isWsgateError(err) && err.code === 'WSG_CONFIG_INVALID';
    return reportError(err, io, { command: name, hint: !selfHint });
  }
}

function quietOnEpipe(err: NodeJS.ErrnoException): void {
  if (err.code !== 'EPIPE') throw err;
  process.exit(process.exitCode ?? 0);
}

const code = await main(process.argv.slice(2));
process.exitCode = code;
