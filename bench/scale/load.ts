/**
 * @module bench/scale/load
 * One load process of the 100k scenario (`chat-100k.ts`). It opens its share of the sockets from
 * its own source address (`localAddress`, so that the 28k ephemeral ports of one address never
 * run out), with at most `concurrency` handshakes + joins in flight, and joins each to the room.
 * Then, for each broadcast the harness announces (`expect`), it stamps when the frame carrying
 * that marker reaches each socket — on CLOCK_MONOTONIC ({@link nowMicros}), which every process of
 * the machine shares — and reports the last and first arrival once every socket has it.
 *
 * It speaks two dialects: the chat's (what phoenix.js speaks: V2 JSON over WebSocket, a guest in
 * `rooms:lobby`, a heartbeat every 30 s) and the bare ceiling's (`J` → `J`). Frames are matched on
 * their bytes (`Buffer.indexOf` of the marker), never parsed, and UTF-8 validation is off: the
 * same cheap client for both servers.
 */
import { WebSocket } from 'ws';
import { nowMicros } from '../lib/body.ts';
import { KEEP_ALIVE_MS } from '../client/dialects.ts';
import type { FromLoad, ToLoad, LoadConnect } from './messages.ts';

function send(message: FromLoad): void {
  process.send?.(message);
}

/** How a dialect joins and keeps alive, as bytes. */
interface Speech {
  readonly path: string;
  readonly join: string;
  /** True for the frame that says the join succeeded. */
  joined(frame: Buffer): boolean;
  /** True for a frame that says the join was refused. */
  refused(frame: Buffer): boolean;
  readonly heartbeat: string | null;
}

const CHAT_REPLY = Buffer.from('"1","1","rooms:lobby","phx_reply",{"status":"ok"');
const CHAT_REFUSED = Buffer.from('"phx_reply",{"status":"error"');

/** The chat, as phoenix.js speaks it: a guest (no token) joins the lobby with ref "1". */
const CHAT: Speech = {
  path: '/socket/websocket?vsn=2.0.0',
  join: JSON.stringify(['1', '1', 'rooms:lobby', 'phx_join', {}]),
  joined: (frame) => frame.indexOf(CHAT_REPLY) === 1,
  refused: (frame) => frame.indexOf(CHAT_REFUSED) !== -1,
  heartbeat: JSON.stringify([null, 'h', 'phoenix', 'heartbeat', {}]),
};

const BARE_JOINED = 'J'.charCodeAt(0);

/** The ceiling: `J` → `J`. */
const BARE: Speech = {
  path: '/',
  join: 'J',
  joined: (frame) => frame.length === 1 && frame[0] === BARE_JOINED,
  refused: () => false,
  heartbeat: null,
};

/** By slot; a failed slot stays a hole. */
const sockets: Array<WebSocket | undefined> = [];
let joinedCount = 0;
/** Per slot: the index of the last broadcast it received (-1: none yet). */
let seen = new Int32Array(0);
let failed = 0;
let dropped = 0;
let closing = false;
let firstError: string | null = null;

/** The broadcast being waited for. */
let expected: { readonly index: number; readonly marker: Buffer; arrived: number; first: number; last: number } | null = null;

function onFrame(slot: number, frame: Buffer): void {
  const wanted = expected;
  if (wanted === null || seen[slot] === wanted.index || frame.indexOf(wanted.marker) === -1) return;
  const at = nowMicros();
  seen[slot] = wanted.index;
  if (wanted.arrived === 0) wanted.first = at;
  wanted.last = at;
  wanted.arrived++;
  if (wanted.arrived === joinedCount) {
    send({ type: 'arrived', index: wanted.index, arrived: wanted.arrived, firstAt: wanted.first, lastAt: wanted.last });
    expected = null;
  }
}

function openOne(command: LoadConnect, speech: Speech, slot: number): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${command.port}${speech.path}`, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      localAddress: command.localAddress,
      handshakeTimeout: 60_000,
    });
    let joined = false;
    const fail = (reason: string): void => {
      if (joined) return;
      joined = true; // settled
      failed++;
      firstError ??= reason;
      ws.terminate();
      resolve();
    };
    ws.on('open', () => ws.send(speech.join));
    ws.on('message', (data: Buffer) => {
      if (joined) return onFrame(slot, data);
      if (speech.joined(data)) {
        joined = true;
        sockets[slot] = ws;
        joinedCount++;
        resolve();
      } else if (speech.refused(data)) fail(`join refused: ${data.toString('utf8', 0, 200)}`);
    });
    ws.on('error', (err) => fail(err.message));
    ws.on('close', (code) => {
      if (!joined) return fail(`closed before joining (${code})`);
      if (!closing) dropped++;
    });
  });
}

async function connect(command: LoadConnect): Promise<void> {
  const speech = command.dialect === 'chat' ? CHAT : BARE;
  seen = new Int32Array(command.sockets).fill(-1);
  let next = 0;
  const startedAt = nowMicros();
  const progress = setInterval(() => send({ type: 'progress', joined: joinedCount, failed }), 1000);
  const lane = async (): Promise<void> => {
    // Bounded: each lane takes slots until all `sockets` are taken.
    while (next < command.sockets) {
      const slot = next++;
      await openOne(command, speech, slot);
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.sockets) }, lane));
  clearInterval(progress);
  if (speech.heartbeat !== null) {
    const beat = speech.heartbeat;
    setInterval(() => {
      for (const ws of sockets) if (ws?.readyState === WebSocket.OPEN) ws.send(beat);
    }, KEEP_ALIVE_MS).unref();
  }
  send({ type: 'connected', joined: joinedCount, failed, firstError, startedAt, finishedAt: nowMicros() });
}

process.on('message', (message: ToLoad) => {
  switch (message.type) {
    case 'connect':
      void connect(message);
      return;
    case 'expect':
      expected = { index: message.index, marker: Buffer.from(message.marker), arrived: 0, first: 0, last: 0 };
      send({ type: 'armed', index: message.index });
      return;
    case 'count':
      send({ type: 'count', index: message.index, arrived: expected?.index === message.index ? expected.arrived : joinedCount, dropped });
      return;
    case 'stop':
      closing = true;
      for (const ws of sockets) ws?.terminate();
      process.exit(0);
  }
});
// No load process outlives its harness.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
