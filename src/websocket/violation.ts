// Protocol violations as values: what the frame decoder and the message assembler hand to their handlers instead
// of throwing, so a passthrough tap can report a broken rule and keep observing. The texts, RFC rules, close codes
// and fatality come from the one error table (errors.ts, the WSG_WS_* codes); this module only builds the values.
// Pure: no sockets, timers or file system.

import { ERRORS, type ErrorCode, type ErrorParams, formatMessage } from '../errors.ts';

type Specs = typeof ERRORS;

/** The codes of the error table that are WebSocket protocol violations: those with a rule and a fatality. */
export type ViolationCode = {
  [K in ErrorCode]: Specs[K] extends { readonly rule: string; readonly fatal: boolean } ? K : never;
}[ErrorCode];

/** Every violation code, in table order. */
export const VIOLATION_CODES: readonly ViolationCode[] = Object.freeze(
  (Object.keys(ERRORS) as ErrorCode[]).filter((code): code is ViolationCode => 'fatal' in ERRORS[code]),
);

export type Violation = {
  readonly code: ViolationCode;
  readonly rule: string;
  readonly closeCode: number;
  readonly fatal: boolean;
  readonly message: string;
};

/** Builds the violation value for `code`. */
export function createViolation(code: ViolationCode, params: ErrorParams = {}): Violation {
  const spec = ERRORS[code];
  return {
    code,
    rule: spec.rule,
    closeCode: spec.closeCode,
    fatal: spec.fatal,
    message: formatMessage(code, params),
  };
}
