// Credentials in URLs (a proxy URL's user:password@) kept out of what people see: error messages drop the whole
// userinfo, printed config keeps the user and hides the password. REDACTED is the one marker for a hidden secret,
// in printed config and in logs alike (log/redact.ts uses it too). Pure.

export const REDACTED = '[redacted]';

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/)([^:@/\s]*):([^@/\s]+)@/i;

/** "http://alice:s3cret@proxy:3128" → "http://alice:[redacted]@proxy:3128": who, but not the secret. */
export function redactUrlPassword(text: string): string {
  return text.replace(URL_PASSWORD, `$1$2:${REDACTED}@`);
}

/** A URL (scheme optional) as text with any user:password replaced by "***", for messages about a bad URL. */
export function redactUserinfo(text: string): string {
  return text.replace(
    /^([a-z][a-z0-9+.-]*:\/\/)?[^@/?#]*@/i,
    (_all, scheme: string | undefined) => `${scheme ?? ''}***@`,
  );
}
