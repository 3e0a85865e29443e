// `wsgate ca`: wsgate's own certificate authority, which signs the leaf certificates of intercepted hosts.
// `init` creates it, `export` prints its certificate (PEM or DER), `trust-help` prints the exact steps to trust it
// in curl, Node, Chromium/Chrome, Firefox and the Debian/Ubuntu, macOS and Windows stores.
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { loadConfigFile } from '../config/load.ts';
import { isWsgateError, WsgateError } from '../errors.ts';
import { formatHostPort, type HostPort } from '../net/host-port.ts';
import {
  caCommandLine,
  certificateDer,
  createCa,
  DEFAULT_CA_DIR,
  type LoadedCa,
  loadCa,
  resolveCaDir,
  spkiSha256,
} from '../tls/ca.ts';
import { describeFileError, type Output, parseCommandArgs } from './args.ts';
import { DEFAULT_CONFIG } from './run.ts';

export const CA_HELP = `Usage: wsgate ca init [--force] [--dir DIR]
       wsgate ca export [--der] [-o FILE] [--dir DIR]
       wsgate ca trust-help [--dir DIR]

wsgate's own certificate authority. It signs a certificate for each host whose TLS
wsgate intercepts; clients see the traffic through wsgate only if they trust it.

Commands:
  init         create the CA: ca.pem (certificate), ca-key.pem and leaf-key.pem
               (private keys, mode 0600) in a directory of mode 0700
  export       print the CA certificate (PEM; --der for DER, e.g. for Windows)
  trust-help   print the exact steps to trust the CA in curl, Node, Chromium/Chrome,
               Firefox, Debian/Ubuntu, macOS and Windows, with its SPKI hash

Options:
      --dir DIR       the CA directory (default: tls.caDir of the config, else ${DEFAULT_CA_DIR})
  -c, --config FILE   read tls.caDir from this config (default ${DEFAULT_CONFIG} when it exists)
      --force         init: replace an existing CA (clients must then trust the new one)
      --der           export: DER instead of PEM
  -o, --out FILE      export: write to FILE instead of stdout
  -h, --help          show this help
`;

/** The forward proxy address the examples use when no config names one: the default config's. */
const DEFAULT_PROXY = '127.0.0.1:8888';

interface CaSetting {
  dir: string;
  /** Where clients reach the forward proxy: the config's first forward listener, a wildcard bind as loopback. */
  proxy: string;
}

/** --dir wins; else the config's tls.caDir (-c FILE, or the default config when it exists); else ~/.wsgate/ca. */
async function caDirOf(values: { dir?: string | undefined; config?: string | undefined }): Promise<string> {
  if (values.dir !== undefined) return resolveCaDir(values.dir);
  const file = values.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  if (file === undefined) return resolveCaDir(DEFAULT_CA_DIR);
  const config = await loadConfigFile(file);
  return resolveCaDir(config.tls.caDir);
}

/**
 * The directory as caDirOf finds it, and the proxy address from the same config, so the steps name the port the
 * user runs on. With --dir and no -c, the default config only lends its address: one that does not load leaves
 * the default address, as the directory does not depend on it.
 */
async function caSettingOf(values: { dir?: string | undefined; config?: string | undefined }): Promise<CaSetting> {
  const file = values.config ?? (existsSync(DEFAULT_CONFIG) ? DEFAULT_CONFIG : undefined);
  const lenient = values.dir !== undefined && values.config === undefined;
  const config =
    file === undefined
      ? undefined
      : await loadConfigFile(file).catch((err: unknown) => (lenient ? undefined : Promise.reject(err)));
  const dir = values.dir ?? config?.tls.caDir ?? DEFAULT_CA_DIR;
  const forward = config?.listeners.find((l) => l.forward !== undefined);
  return { dir: resolveCaDir(dir), proxy: forward === undefined ? DEFAULT_PROXY : clientAddress(forward.bind) };
}

/** A listener bound to every address is reached on loopback from the same machine. */
function clientAddress(bind: HostPort): string {
  if (bind.host === '0.0.0.0' || bind.host === '') return formatHostPort('127.0.0.1', bind.port);
  if (bind.host === '::') return formatHostPort('::1', bind.port);
  return formatHostPort(bind.host, bind.port);
}

/**
 * The CA errors that advise `wsgate ca init`, advising it with the --dir or -c this command was given: a bare
 * `wsgate ca init` may look in another directory (~/.wsgate/ca, or the tls.caDir of the config found here).
 */
function withInitAdvice(err: unknown, values: { dir?: string | undefined; config?: string | undefined }): unknown {
  if (!isWsgateError(err) || (err.code !== 'WSG_CA_MISSING' && err.code !== 'WSG_CA_EXISTS')) return err;
  const flags =
    values.dir !== undefined ? ['--dir', values.dir] : values.config !== undefined ? ['-c', values.config] : [];
  const hint =
    err.code === 'WSG_CA_MISSING'
      ? `Create one with \`${caCommandLine('init', ...flags)}\`.`
      : `Keep it, or replace it with \`${caCommandLine('init', ...flags, '--force')}\` (clients that trust the old CA must then trust the new one).`;
  return new WsgateError(err.code, err.params, { cause: err.cause, hint });
}

function summary(ca: LoadedCa): string {
  const { paths, certificate } = ca;
  return [
    `  certificate   ${paths.cert}   (what clients trust)`,
    `  private key   ${paths.key}   (mode 0600: keep it private)`,
    `  leaf key      ${paths.leafKey}${ca.leafKey.persisted ? '' : '   (missing: a new one is made on every start)'}`,
    `  subject       ${certificate.subject.split('\n').join(', ')}`,
    `  valid until   ${certificate.validToDate.toISOString()}`,
    `  SHA-256       ${certificate.fingerprint256}`,
    `  SPKI SHA-256  ${spkiList(ca)}   (CA key${ca.leafKey.persisted ? ', leaf key' : ''})`,
  ].join('\n');
}

/** For Chromium's --ignore-certificate-errors-spki-list: the CA's key and the shared leaf key. */
function spkiList(ca: LoadedCa): string {
  const list = [spkiSha256(ca.certificate)];
  if (ca.leafKey.persisted) list.push(ca.leafKey.spkiSha256);
  return list.join(',');
}

async function initCa(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('ca init', argv, {
    dir: { type: 'string' },
    config: { type: 'string', short: 'c' },
    force: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(CA_HELP);
    return 0;
  }
  const dir = await caDirOf(values);
  const ca = await createCa(dir, { force: values.force ?? false }).catch((err: unknown) => {
    throw withInitAdvice(err, values);
  });
  io.out(`wsgate: created a CA in ${ca.paths.dir}\n${summary(ca)}\n`);
  // With --dir (or a config's caDir) a bare `wsgate ca trust-help` could look elsewhere: name this CA's directory.
  io.out(
    `Next: \`${caCommandLine('trust-help', '--dir', ca.paths.dir)}\` shows how to make browsers, curl, Node and the OS trust it.`,
  );
  return 0;
}

async function exportCa(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('ca export', argv, {
    dir: { type: 'string' },
    config: { type: 'string', short: 'c' },
    der: { type: 'boolean' },
    out: { type: 'string', short: 'o' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(CA_HELP);
    return 0;
  }
  const ca = await loadCa(await caDirOf(values)).catch((err: unknown) => {
    throw withInitAdvice(err, values);
  });
  const data: string | Buffer = values.der ? certificateDer(ca.certPem) : ca.certPem;
  if (values.out !== undefined) {
    try {
      await writeFile(values.out, data);
    } catch (err) {
      throw new WsgateError('WSG_USAGE', {
        detail: `ca export: cannot write ${values.out}: ${describeFileError(err as NodeJS.ErrnoException)}`,
      });
    }
    return 0;
  }
  if (typeof data === 'string') {
    io.out(data);
    return 0;
  }
  if (process.stdout.isTTY) {
    throw new WsgateError('WSG_USAGE', {
      detail: 'ca export: --der writes binary; redirect it (> wsgate-ca.cer) or use -o FILE',
    });
  }
  await new Promise<void>((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
  return 0;
}

/** The steps, with this CA's real paths, name and hashes filled in. */
export function trustHelpText(ca: LoadedCa, proxy = DEFAULT_PROXY): string {
  const pem = ca.paths.cert;
  const cn = /CN=([^\n]+)/.exec(ca.certificate.subject)?.[1] ?? 'wsgate CA';
  const spki = spkiList(ca);
  const serial = ca.certificate.serialNumber;
  return `wsgate CA
${summary(ca)}

Clients see traffic through wsgate's TLS interception only when they trust this CA.
Anyone holding ca-key.pem can impersonate any site to a client that trusts it: trust it
on machines you control, for as long as you debug, and remove it afterwards (steps below).

curl
  curl --cacert ${pem} --proxy http://${proxy} https://example.com/
  (--cacert replaces curl's CA bundle for that command; the Debian/Ubuntu or macOS steps
  below make every curl trust it)

Node.js (NODE_EXTRA_CA_CERTS is read once, when the process starts, and added to Node's roots)
  NODE_EXTRA_CA_CERTS=${pem} node app.js
  NODE_EXTRA_CA_CERTS=${pem} NODE_USE_ENV_PROXY=1 HTTPS_PROXY=http://${proxy} node app.js
      (Node 24: fetch() goes through the proxy)
  ws library: new WebSocket(url, { ca: fs.readFileSync('${pem}') })

Chromium / Chrome
  One run, nothing installed (a throwaway profile; the SPKI hashes are this CA's and its leaf key's):
    chromium --user-data-dir="$(mktemp -d)" --proxy-server=http://${proxy} \\
      --ignore-certificate-errors-spki-list=${spki}
    (google-chrome takes the same flags; on macOS: open -na "Google Chrome" --args ...)
    Chromium sends loopback hosts (localhost, 127.0.0.1) direct: add --proxy-bypass-list="<-loopback>"
  Linux, permanently (Chrome and Chromium read the NSS database; certutil is in libnss3-tools):
    certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n "${cn}" -i ${pem}
    undo: certutil -d sql:$HOME/.pki/nssdb -D -n "${cn}"
  Or Settings > Privacy and security > Security > Manage certificates > Authorities > Import.
  On macOS and Windows Chrome uses the system store: see below.

Firefox (its own store)
  Settings > Privacy & Security > Certificates > View Certificates > Authorities > Import...,
  pick ${pem}, tick "Trust this CA to identify websites".
  Or, with Firefox closed: certutil -d sql:PROFILE_DIR -A -t "C,," -n "${cn}" -i ${pem}
  Or let it use the system store: about:config > security.enterprise_roots.enabled = true
  undo: the same dialog, select "${cn}", Delete or Distrust.

Debian / Ubuntu (the system store: curl, wget, git, and Node with --use-system-ca)
  sudo cp ${pem} /usr/local/share/ca-certificates/wsgate-ca.crt
  sudo update-ca-certificates
  undo: sudo rm /usr/local/share/ca-certificates/wsgate-ca.crt && sudo update-ca-certificates --fresh

macOS (system keychain: Safari, Chrome, curl)
  sudo security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain ${pem}
  undo: sudo security delete-certificate -c "${cn}" /Library/Keychains/System.keychain

Windows (Edge, Chrome and most programs use the Windows store)
  wsgate ca export --dir ${ca.paths.dir} --der -o wsgate-ca.cer
  PowerShell, current user:  Import-Certificate -FilePath wsgate-ca.cer -CertStoreLocation Cert:\\CurrentUser\\Root
  all users (as administrator): certutil -addstore -f Root wsgate-ca.cer
  undo: certutil -user -delstore Root ${serial}   (all users: certutil -delstore Root ${serial})
`;
}

async function trustHelp(argv: string[], io: Output): Promise<number> {
  const { values } = parseCommandArgs('ca trust-help', argv, {
    dir: { type: 'string' },
    config: { type: 'string', short: 'c' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    io.out(CA_HELP);
    return 0;
  }
  const setting = await caSettingOf(values);
  const ca = await loadCa(setting.dir).catch((err: unknown) => {
    throw withInitAdvice(err, values);
  });
  io.out(trustHelpText(ca, setting.proxy));
  return 0;
}

const SUBCOMMANDS: Record<string, (argv: string[], io: Output) => Promise<number>> = {
  init: initCa,
  export: exportCa,
  'trust-help': trustHelp,
};

export async function caCommand(argv: string[], io: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    io.out(CA_HELP);
    return 0;
  }
  // A bare `wsgate ca` did nothing: a script that forgot `init` must not read it as success.
  if (sub === undefined) {
    throw new WsgateError('WSG_USAGE', { detail: 'ca: a subcommand is required: init, export or trust-help' });
  }
  const run = SUBCOMMANDS[sub];
  if (run === undefined) {
    throw new WsgateError('WSG_USAGE', {
      detail: `ca: unknown subcommand "${sub}"; use init, export or trust-help`,
    });
  }
  return run(rest, io);
}
