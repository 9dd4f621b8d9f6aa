/**
 * @module bench/servers/socketio
 * The benchmark app on Socket.IO 4.8, WebSocket transport only (no polling, no compression):
 * `join` (with ack) puts the socket in room `bench:fanout`, `publish` re-emits the data as `msg`
 * to the room (`io.to(room).emit`, the publisher included), `ping` acks with the same data.
 */
import { createServer } from 'node:http';
import { Server } from 'socket.io';
import { serve } from './serve.ts';

const ROOM = 'bench:fanout';

await serve(async () => {
  const server = createServer();
  const io = new Server(server, { transports: ['websocket'], serveClient: false, perMessageDeflate: false });
  io.on('connection', (socket) => {
    socket.on('join', (room: unknown, ack?: () => void) => {
      if (room === ROOM) void socket.join(ROOM);
      if (typeof ack === 'function') ack();
    });
    socket.on('publish', (data: unknown) => {
      io.to(ROOM).emit('msg', data);
    });
    socket.on('ping', (data: unknown, ack?: (reply: unknown) => void) => {
      if (typeof ack === 'function') ack(data);
    });
  });
  return {
    server,
    close: () => new Promise<void>((resolve) => void io.close(() => resolve())),
  };
});
