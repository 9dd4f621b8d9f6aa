/**
 * @module bench/servers/bare-ws
 * The ceiling: a `ws` server with no framework. Its wire protocol is the smallest that does the
 * same job (text frames, first byte says what):
 *
 * | client sends | server does |
 * | --- | --- |
 * | `J` | subscribes the socket, answers `J` |
 * | `P<body>` | broadcasts `<body>` to every subscriber, the publisher included |
 * | `R<json>` | answers the JSON re-serialised (`JSON.parse` + `JSON.stringify`, as any app must read a request) |
 *
 * A broadcast builds the WebSocket frame bytes once (`Sender.frame`, unmasked), and each socket
 * is corked once per event-loop turn: every broadcast of the turn is a `write` into the corked
 * stream, and one `uncork` per socket in `setImmediate` sends them in a single `writev`.
 *
 * With `BENCH_PUBSUB=redis|redis-cluster|nats` (the cross-node ceiling) a publish also goes, as the
 * raw body behind a four-byte node id, to one channel of that engine (bench/servers/relays.ts);
 * every node broadcasts what another node published there.
 */
import { createServer } from 'node:http';
import type { Socket as NetSocket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { textFrame } from '../lib/ws-frame.ts';
import { openRelay } from './relays.ts';
import { serve } from './serve.ts';

const JOINED = 'J'.charCodeAt(0);
const PUBLISH = 'P'.charCodeAt(0);
const REQUEST = 'R'.charCodeAt(0);

function rawSocket(ws: WebSocket): NetSocket {
  return (ws as unknown as { _socket: NetSocket })._socket;
}

await serve(async () => {
  const server = createServer((_req, res) => void res.writeHead(404).end());
  const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false });
  const subscribers = new Set<NetSocket>();
  const corked: NetSocket[] = [];

  const uncorkAll = (): void => {
    for (const socket of corked) socket.uncork();
    corked.length = 0;
  };

  const broadcastHere = (payload: Buffer): void => {
    const bytes = textFrame(payload);
    if (corked.length === 0) {
      for (const socket of subscribers) {
        socket.cork();
        corked.push(socket);
      }
      setImmediate(uncorkAll);
    }
    for (const socket of subscribers) socket.write(bytes);
  };

  const relay = await openRelay(broadcastHere);

  wss.on('connection', (ws) => {
    const socket = rawSocket(ws);
    ws.on('message', (data: Buffer) => {
      switch (data[0]) {
        case PUBLISH:
          broadcastHere(data.subarray(1));
          relay?.publish(data.subarray(1));
          return;
        case REQUEST:
          ws.send(JSON.stringify(JSON.parse(data.toString('utf8', 1))));
          return;
        case JOINED:
          subscribers.add(socket);
          ws.send('J');
          return;
      }
    });
    ws.on('close', () => subscribers.delete(socket));
    ws.on('error', () => ws.terminate());
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of subscribers) socket.destroy();
        wss.close();
        void relay?.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
});
