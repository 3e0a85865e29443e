// Reason phrases for the status line of heads wsgate writes itself (RFC 9110 §15). node:http has the same table
// as STATUS_CODES, but importing node:http would put a socket module under the pure grammar; a test keeps the
// two in agreement.

const REASONS: Readonly<Record<number, string>> = {
  100: 'Continue',
  101: 'Switching Protocols',
  200: 'OK',
  201: 'Created',
  202: 'Accepted',
  204: 'No Content',
  206: 'Partial Content',
  301: 'Moved Permanently',
  302: 'Found',
  303: 'See Other',
  304: 'Not Modified',
  307: 'Temporary Redirect',
  308: 'Permanent Redirect',
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  407: 'Proxy Authentication Required',
  408: 'Request Timeout',
  409: 'Conflict',
  410: 'Gone',
  411: 'Length Required',
  412: 'Precondition Failed',
  413: 'Payload Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  421: 'Misdirected Request',
  422: 'Unprocessable Entity',
  426: 'Upgrade Required',
  428: 'Precondition Required',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
  508: 'Loop Detected',
  511: 'Network Authentication Required',
};

/** The reason phrase of a status code; "Error" for one outside the table (the phrase carries no meaning). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? 'Error';
}

/**
 * A 1xx head that only precedes the answer (100 Continue, 103 Early Hints: RFC 9110 §15.2): a recipient reads past
 * it. 101 switches protocols and is the answer itself.
 */
export function isInterimStatus(status: number): boolean {
  return status >= 100 && status < 200 && status !== 101;
}
