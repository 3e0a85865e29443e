// The NSS key log (the format SSLKEYLOGFILE names, which Wireshark reads): every TLS session wsgate takes part in,
// toward clients and toward upstreams, appends its secrets here, so a capture of the same traffic can be
// decrypted. Node hands over complete lines (CLIENT_RANDOM … for TLS 1.2, CLIENT_TRAFFIC_SECRET_0 … and the other
// TLS 1.3 secrets); this module only appends them. The file is created 0600: it unlocks the traffic it describes.
import { createWriteStream, type WriteStream } from 'node:fs';
import type https from 'node:https';
import type tls from 'node:tls';

export type KeyLog = {
  readonly file: string;
  /** Appends one line as Node emitted it (it ends in "\n"). */
  write(line: Buffer): void;
  /** Emits the secrets of every session of a TLS server, client socket or https.Agent into this log. */
  attach(target: tls.Server | tls.TLSSocket | https.Agent): void;
  close(): Promise<void>;
};

/** The key-log file to use: the config's tls.keyLog, else the SSLKEYLOGFILE environment variable (as browsers). */
export function keyLogFile(configured: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (configured !== undefined && configured !== '') return configured;
  const fromEnv = env['SSLKEYLOGFILE'];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined;
}

/**
 * Opens `file` for appending. A write error (disk full, file removed with its directory) is reported once through
 * `onError` and later lines are dropped: a key log must never take traffic down with it.
 */
export function openKeyLog(file: string, onError: (err: Error) => void = () => {}): KeyLog {
  let stream: WriteStream | undefined = createWriteStream(file, { flags: 'a', mode: 0o600 });
  stream.on('error', (err) => {
    stream?.destroy();
    stream = undefined;
    onError(err);
  });
  const write = (line: Buffer) => {
    stream?.write(line);
  };
  return {
    file,
    write,
    attach(target) {
      (target as NodeJS.EventEmitter).on('keylog', write);
    },
    close() {
      const s = stream;
      stream = undefined;
      if (s === undefined || s.destroyed) return Promise.resolve();
      return new Promise((resolve) => s.end(() => resolve()));
    },
  };
}
