/**
 * @module bench/scale/sender
 * The socket that sends the measured broadcasts of the 100k scenario, held by the harness itself
 * (it is not one of the load sockets: those all receive).
 *
 * - **chat**: a signed-in user, as the page does it — `POST /api/identity` for a user token, the
 *   socket opened with it (`?token=…&vsn=2.0.0`), `rooms:lobby` joined with `{name}`; a broadcast
 *   is a `new_msg {body}` push, which the chat stores, then broadcasts to the room.
 * - **bare**: `J`, then `P<body>`.
 */
import { WebSocket } from 'ws';
import { KEEP_ALIVE_MS } from '../client/dialects.ts';
import type { ScaleDialect } from './messages.ts';

/** A joined socket that can send one broadcast into the room. */
export interface Sender {
  /** Sends a broadcast whose frame, as the receivers get it, contains `marker`. */
  publish(marker: string): void;
  close(): void;
}

function open(url: string, first: string, joined: (text: string) => boolean): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const timer = setTimeout(() => reject(new Error(`sender: not joined within 10 s (${url})`)), 10_000);
    ws.once('open', () => ws.send(first));
    ws.once('error', reject);
    const onMessage = (data: Buffer): void => {
      const text = data.toString('utf8');
      try {
        if (!joined(text)) return;
      } catch (err) {
        clearTimeout(timer);
        ws.terminate();
        return reject(err as Error);
      }
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(ws);
    };
    ws.on('message', onMessage);
  });
}

/** Opens and joins the sender for `dialect` on 127.0.0.1:`port`. */
export async function openSender(dialect: ScaleDialect, port: number): Promise<Sender> {
  if (dialect === 'bare') {
    const ws = await open(`ws://127.0.0.1:${port}/`, 'J', (text) => text === 'J');
    return { publish: (marker) => ws.send(`P${marker}`), close: () => ws.terminate() };
  }
  const response = await fetch(`http://127.0.0.1:${port}/api/identity`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  if (!response.ok) throw new Error(`sender: POST /api/identity answered ${response.status}`);
  const { token } = (await response.json()) as { token: string };
  const join = JSON.stringify(['1', '1', 'rooms:lobby', 'phx_join', { name: 'bench' }]);
  const url = `ws://127.0.0.1:${port}/socket/websocket?vsn=2.0.0&token=${encodeURIComponent(token)}`;
  const ws = await open(url, join, (text) => {
    if (!text.startsWith('["1","1","rooms:lobby","phx_reply"')) return false;
    if (!text.includes('"status":"ok"')) throw new Error(`sender: join refused ${text.slice(0, 200)}`);
    return true;
  });
  let ref = 1;
  // As phoenix.js: a heartbeat every 30 s, or the server's idle timeout (60 s) ends the socket while the load connects.
  const heartbeat = setInterval(() => ws.send(JSON.stringify([null, String(++ref), 'phoenix', 'heartbeat', {}])), KEEP_ALIVE_MS);
  return {
    publish: (marker) => ws.send(JSON.stringify(['1', String(++ref), 'rooms:lobby', 'new_msg', { body: marker }])),
    close: () => {
      clearInterval(heartbeat);
      ws.terminate();
    },
  };
}
