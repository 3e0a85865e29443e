// wsgate's own certificate authority: creating it, loading it (with the checks that keep its key private), and the
// shared leaf key every intercepted host's certificate is issued for.
//
// A CA directory holds three files:
//   ca.pem        the CA certificate (ECDSA P-256, 10 years): what clients are told to trust; mode 0644
//   ca-key.pem    its private key (PKCS#8 PEM); mode 0600
//   leaf-key.pem  the one key pair all leaf certificates share (mitmproxy does the same): signing a leaf is then
//                 the only work per new host; mode 0600. Kept on disk so its SPKI hash stays the same across runs.
// The directory itself is created 0700.
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  type webcrypto,
  X509Certificate,
} from 'node:crypto';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, hostname } from 'node:os';
import path from 'node:path';
import { shellWord, WsgateError } from '../errors.ts';
import { EC_KEY_ALGORITHM, EC_SIGNING_ALGORITHM, loadX509, randomSerial, type X509 } from './x509.ts';

export const CA_FILES = { cert: 'ca.pem', key: 'ca-key.pem', leafKey: 'leaf-key.pem' } as const;

/** Where the CA lives unless the config's tls.caDir or --dir says otherwise. */
export const DEFAULT_CA_DIR = '~/.wsgate/ca';

const CA_VALIDITY_DAYS = 3650;
const DAY_MS = 24 * 60 * 60 * 1000;

export type CaPaths = { dir: string; cert: string; key: string; leafKey: string };

/** The shared leaf key pair, in the forms signing and TLS need. */
export type LeafKey = {
  /** PKCS#8 PEM, for tls.createSecureContext. */
  privateKeyPem: string;
  /** The public half as a WebCrypto key, for the certificate generator. */
  publicKey: webcrypto.CryptoKey;
  /** base64 SHA-256 of the SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list). */
  spkiSha256: string;
  /** Read from leaf-key.pem (true), or made for this process only because the file is missing (false). */
  persisted: boolean;
};

export type LoadedCa = {
  paths: CaPaths;
  /** The CA certificate as PEM, ending in a newline (so it can follow a leaf in a chain). */
  certPem: string;
  certificate: X509Certificate;
  /** The same certificate for @peculiar/x509: its subject name and key identifier go into every leaf. */
  x509: X509.X509Certificate;
  signingKey: webcrypto.CryptoKey;
  /** The Authority Key Identifier every leaf carries (the CA's Subject Key Identifier). */
  authorityKeyId: string;
  leafKey: LeafKey;
};

/** Expands a leading `~` and makes the path absolute (relative paths are relative to the working directory). */
export function resolveCaDir(dir: string, home: string = homedir()): string {
  if (dir === '~') return home;
  if (dir.startsWith('~/') || dir.startsWith('~\\')) return path.join(home, dir.slice(2));
  return path.resolve(dir);
}

/**
 * A `wsgate ca` command line to paste into a shell, each argument quoted where it needs to be. Advice names the CA
 * directory it is about: a bare `wsgate ca init --force` would replace the CA of ~/.wsgate/ca or of the config
 * found here, perhaps not the one that failed.
 */
export function caCommandLine(...args: string[]): string {
  return ['wsgate', 'ca', ...args.map(shellWord)].join(' ');
}

export function caPaths(dir: string): CaPaths {
  const resolved = resolveCaDir(dir);
  return {
    dir: resolved,
    cert: path.join(resolved, CA_FILES.cert),
    key: path.join(resolved, CA_FILES.key),
    leafKey: path.join(resolved, CA_FILES.leafKey),
  };
}

/** base64 SHA-256 of a public key's DER SubjectPublicKeyInfo. */
export function spkiSha256(key: KeyObject | X509Certificate): string {
  const publicKey = key instanceof X509Certificate ? key.publicKey : key;
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64');
}

/** The DER bytes of a PEM certificate (what Windows and some device stores import). */
export function certificateDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

function ensureNewline(pem: string): string {
  return pem.endsWith('\n') ? pem : `${pem}\n`;
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

function toLeafKey(privateKey: KeyObject, persisted: boolean): LeafKey {
  // createPublicKey derives the public half from a private KeyObject.
  const publicKey = createPublicKey(privateKey);
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    publicKey: publicKey.toCryptoKey(EC_KEY_ALGORITHM, true, ['verify']),
    spkiSha256: spkiSha256(publicKey),
    persisted,
  };
}

export function newEcKey(): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** A self-signed CA certificate for `caKey`: path length 0 (it signs only leaves), keyCertSign and cRLSign. */
export async function signCaCertificate(
  caKey: KeyObject,
  name: string,
  validity: { notBefore: Date; notAfter: Date },
): Promise<X509.X509Certificate> {
  const x509 = await loadX509();
  const publicKey = createPublicKey(caKey).toCryptoKey(EC_KEY_ALGORITHM, true, ['verify']);
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: name,
    issuer: name,
    ...validity,
    signingAlgorithm: EC_SIGNING_ALGORITHM,
    publicKey,
    signingKey: caKey.toCryptoKey(EC_KEY_ALGORITHM, false, ['sign']),
    extensions: [
      // RFC 5280 §4.2.1.9: a CA; path length 0, so it can only sign leaves.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(publicKey),
    ],
  });
}

/** A CA subject that says what it is and where it came from, so people can find it in a trust store. */
function defaultCommonName(now: Date): string {
  const host = hostname().replace(/[^A-Za-z0-9.-]/g, '') || 'localhost';
  return `wsgate CA ${host} ${now.toISOString().slice(0, 10)}`;
}

/** Writes a file through a temporary name and a rename, so a reader never sees half of it. */
async function writeAtomically(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}`;
  await rm(tmp, { force: true });
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await rename(tmp, file);
}

export type CreateCaOptions = {
  /** Replace an existing CA (its clients must trust the new one). */
  force?: boolean;
  commonName?: string;
  now?: Date;
};

/**
 * Creates a CA in `dir` (created 0700 when missing): the certificate, its key and the shared leaf key.
 * Refuses with WSG_CA_EXISTS when a CA certificate or key is already there, unless `force`.
 */
export async function createCa(dir: string, options: CreateCaOptions = {}): Promise<LoadedCa> {
  const paths = caPaths(dir);
  if (!options.force && ((await exists(paths.cert)) || (await exists(paths.key)))) {
    throw new WsgateError('WSG_CA_EXISTS', { dir: paths.dir });
  }
  const now = options.now ?? new Date();
  const caKey = newEcKey();
  const leafKey = newEcKey();
  const cert = await signCaCertificate(caKey, `CN=${options.commonName ?? defaultCommonName(now)}, O=wsgate`, {
    // A day back, as the leaves start (leaf.ts): a client whose clock runs behind accepts a leaf only if the CA
    // above it is valid at that time too.
    notBefore: new Date(now.getTime() - DAY_MS),
    notAfter: new Date(now.getTime() + CA_VALIDITY_DAYS * DAY_MS),
  });
  try {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
    // Keys first and the certificate last: a half-written CA has no ca.pem, so it is never loaded.
    await writeAtomically(paths.leafKey, leafKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    await writeAtomically(paths.key, caKey.export({ type: 'pkcs8', format: 'pem' }) as string, 0o600);
    await writeAtomically(paths.cert, ensureNewline(cert.toString('pem')), 0o644);
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new WsgateError('WSG_CA_WRITE', { dir: paths.dir, detail }, { cause: err });
  }
  return loadCa(paths.dir, now);
}

/**
 * A private key file must be readable by its owner only, and the owner must be the user wsgate runs as: anyone
 * else who can read the CA key can impersonate every site to clients that trust the CA.
 */
async function checkKeyFile(file: string): Promise<void> {
  if (process.platform === 'win32') return;
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    const mode = (info.mode & 0o777).toString(8).padStart(4, '0');
    throw new WsgateError('WSG_CA_INVALID', {
      file,
      detail: `mode ${mode} lets other users read or change this private key; run \`chmod 600 ${file}\``,
    });
  }
  const uid = process.getuid?.();
  if (uid !== undefined && info.uid !== uid) {
    throw new WsgateError('WSG_CA_INVALID', {
      file,
      detail: `owned by uid ${info.uid}, not by the user wsgate runs as (uid ${uid}); a CA key must be your own`,
    });
  }
}

async function readCaFile(file: string, dir: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new WsgateError('WSG_CA_MISSING', { dir, file }, { cause: err });
    throw new WsgateError(
      'WSG_CA_INVALID',
      { file, detail: code === 'EACCES' ? 'permission denied' : (code ?? (err as Error).message) },
      { cause: err },
    );
  }
}

function parseEcKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new WsgateError(
      'WSG_CA_INVALID',
      {
        file,
        detail: `not an unencrypted PEM private key; replace the CA with \`${caCommandLine('init', '--force', '--dir', path.dirname(file))}\``,
      },
      { cause: err },
    );
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new WsgateError('WSG_CA_INVALID', {
      file,
      detail:
        `an ECDSA P-256 key is required; this is ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim(),
    });
  }
  return key;
}

/**
 * Loads and checks the CA in `dir`: certificate and key parse, belong together, the certificate is a CA and in
 * its validity period, and the key files are private (0600, owned by this user). WSG_CA_MISSING when there is no
 * CA; WSG_CA_INVALID naming the file for everything else. A missing leaf-key.pem is made for this process only.
 */
export async function loadCa(dir: string, now: Date = new Date()): Promise<LoadedCa> {
  const paths = caPaths(dir);
  const certPem = await readCaFile(paths.cert, paths.dir);
  const keyPem = await readCaFile(paths.key, paths.dir);
  await checkKeyFile(paths.key);

  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (err) {
    throw new WsgateError(
      'WSG_CA_INVALID',
      {
        file: paths.cert,
        detail: `not a PEM certificate; replace the CA with \`${caCommandLine('init', '--force', '--dir', paths.dir)}\``,
      },
      { cause: err },
    );
  }
  if (!certificate.ca) {
    throw new WsgateError('WSG_CA_INVALID', {
      file: paths.cert,
      detail: 'this certificate is not a CA (basicConstraints CA:FALSE)',
    });
  }
  if (certificate.validToDate.getTime() <= now.getTime()) {
    throw new WsgateError('WSG_CA_INVALID', {
      file: paths.cert,
      detail: `the CA expired on ${certificate.validToDate.toISOString()}; make a new one with \`${caCommandLine('init', '--force', '--dir', paths.dir)}\` and trust it again`,
    });
  }
  const caKey = parseEcKey(keyPem, paths.key);
  if (!certificate.checkPrivateKey(caKey)) {
    throw new WsgateError('WSG_CA_INVALID', {
      file: paths.key,
      detail: `this key does not belong to the certificate in ${paths.cert}`,
    });
  }

  let leafKey: LeafKey;
  if (await exists(paths.leafKey)) {
    await checkKeyFile(paths.leafKey);
    leafKey = toLeafKey(parseEcKey(await readFile(paths.leafKey, 'utf8'), paths.leafKey), true);
  } else {
    leafKey = toLeafKey(newEcKey(), false);
  }

  const x509 = await loadX509();
  const x509Cert = new x509.X509Certificate(certPem);
  const ski = x509Cert.getExtension(x509.SubjectKeyIdentifierExtension);
  const authorityKeyId =
    ski?.keyId ?? (await x509.SubjectKeyIdentifierExtension.create(await x509Cert.publicKey.export())).keyId;
  return {
    paths,
    certPem: ensureNewline(certPem.trim()),
    certificate,
    x509: x509Cert,
    signingKey: caKey.toCryptoKey(EC_KEY_ALGORITHM, false, ['sign']),
    authorityKeyId,
    leafKey,
  };
}

/** How long a process waits for another one that is creating the CA (`.init.lock`) before giving up. */
const INIT_WAIT_MS = 15_000;
/** A lock file older than this is left over from a process that died while creating the CA. */
const STALE_LOCK_MS = 60_000;

/**
 * Loads the CA in `dir`, or creates one there when there is none yet (first use of interception). Safe when several
 * processes start at once (`run --workers`): one creates the CA under an exclusive lock file, the others wait for
 * its certificate and load the same CA.
 */
export async function ensureCa(dir: string): Promise<{ ca: LoadedCa; created: boolean }> {
  const paths = caPaths(dir);
  const present = async () => (await exists(paths.cert)) || (await exists(paths.key));
  if (await present()) return { ca: await loadCa(dir), created: false };
  try {
    await mkdir(paths.dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    const detail = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new WsgateError('WSG_CA_WRITE', { dir: paths.dir, detail }, { cause: err });
  }
  const lock = path.join(paths.dir, '.init.lock');
  const deadline = Date.now() + INIT_WAIT_MS;
  for (;;) {
    let handle: Awaited<ReturnType<typeof open>> | undefined;
    try {
      handle = await open(lock, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        const detail = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new WsgateError('WSG_CA_WRITE', { dir: paths.dir, detail }, { cause: err });
      }
    }
    if (handle !== undefined) {
      try {
        // Another process may have finished between the first look and the lock.
        if (await present()) return { ca: await loadCa(dir), created: false };
        return { ca: await createCa(dir), created: true };
      } finally {
        await handle.close();
        await rm(lock, { force: true });
      }
    }
    // Someone else holds the lock: its certificate is written last, so once it exists the CA is complete.
    if (await exists(paths.cert)) return { ca: await loadCa(dir), created: false };
    const lockAge = await stat(lock).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    if (lockAge > STALE_LOCK_MS) await rm(lock, { force: true });
    else if (Date.now() > deadline) {
      throw new WsgateError('WSG_CA_WRITE', {
        dir: paths.dir,
        detail: `another process has been creating the CA for ${INIT_WAIT_MS / 1000} s (${lock}); if none is running, delete that file`,
      });
    } else await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
