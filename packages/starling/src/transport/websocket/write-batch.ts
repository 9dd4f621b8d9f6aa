/**
 * @module transport/websocket/write-batch
 * Internal: coalesces writes per event-loop turn. The first write to a TCP socket in a turn corks it; one
 * `setImmediate` uncorks every socket written to in that turn, so all frames a socket received
 * in the turn (several broadcasts, a reply) leave in one `writev` syscall instead of one `write`
 * each — the largest single cost of fan-out is the kernel, and this cuts it several-fold.
 */
import type { Socket } from 'node:net';

const corked: Socket[] = [];
let scheduled = false;

function uncorkAll(): void {
  scheduled = false;
  // uncork may run user code (drain listeners) that writes and corks again: take the batch first.
  const batch = corked.splice(0);
  for (const socket of batch) socket.uncork();
}

/**
 * Corks `socket` until the end of this event-loop turn, when every socket corked in the turn is
 * uncorked. Call only while `socket.writableCorked` is 0; then write as usual.
 */
export function corkForTurn(socket: Socket): void {
  socket.cork();
  corked.push(socket);
  if (!scheduled) {
    scheduled = true;
    setImmediate(uncorkAll);
  }
}
