// While wsgate waits for the upstream's answer to a handshake, the client's socket is not read: bytes it sends wait
// for the joiner. So Node would not notice the client leaving: its FIN sits unread until the handshake timeout,
// which then blames the upstream and holds the upstream connection that long. A 'readable' listener makes Node read
// without consuming anything: an end of stream with nothing before it means the client left (nginx answers that
// with 499, proxy_ignore_client_abort off); bytes sent before the 101 stay buffered for the joiner, and once the
// socket's buffer is full Node stops reading, so a client that sends early holds no more than that.
import type net from 'node:net';

/** Calls `onGone` once the client ends its side; returns the function that stops watching (before the join). */
export function watchClientLeaving(client: net.Socket, onGone: () => void): () => void {
  const onReadable = () => {
    // Bytes sent early: theirs to keep for the joiner (an end behind them is seen by the join, or the timeout).
    if (client.readableLength > 0) return;
    // Nothing buffered: this is the end of the stream, and read() turns it into 'end'.
    client.read();
  };
  client.on('readable', onReadable);
  client.once('end', onGone);
  return () => {
    client.off('readable', onReadable);
    client.off('end', onGone);
  };
}
