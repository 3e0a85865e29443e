/**
 * The 'error' guard of a socket whose errors are handled elsewhere (its 'close'), or not at all. One module-level
 * function on purpose: an inline `() => {}` shares the context of the function it is written in, so a listener
 * left on a long-lived socket would keep everything that function's other closures capture (a request, its head
 * buffer) alive as long as the socket.
 */
export function ignoreError(): void {}
