/**
 * @module bench/scale/load
 * One load process of the 100k scenario (`chat-100k.ts`). It opens its share of the sockets from
 * its own source addresses (`localAddress`, spread over up to 250 addresses of its own: the kernel
 * picks a free port per bind, which gets slow when one address holds thousands — and the 28k
 * ephemeral ports of one address must not run out), with at most `concurrency` handshakes + joins
 * in flight, and joins each to the room.
 * Then, for each broadcast the harness announces (`expect`), it stamps when the frame carrying
 * that marker reaches each socket — on CLOCK_MONOTONIC ({@link nowMicros}), which every process of
 * the machine shares — and reports the last and first arrival once every socket has it.
 *
 * It speaks two dialects: the chat's (what phoenix.js speaks: V2 JSON over WebSocket, a guest in
 * `rooms:lobby`, a heartbeat every 30 s) and the bare ceiling's (`J` → `J`), over the raw client
 * of `raw-client.ts`: frames are matched on their bytes (`Buffer.indexOf` of the marker), never
 * parsed — the same cheap client for both servers.
 */
import type { Socket } from 'node:net';
import { nowMicros } from '../lib/body.ts';
import { KEEP_ALIVE_MS } from '../client/dialects.ts';
import type { FromLoad, ToLoad, LoadConnect } from './messages.ts';
import { clientFrame, includesAcross, openRaw, tailOf } from './raw-client.ts';

function send(message: FromLoad): void {
  process.send?.(message);
}

/** How a dialect joins and keeps alive, as bytes. */
interface Speech {
  readonly path: string;
  /** The join, as a client frame. */
  readonly join: Buffer;
  /** In the bytes received so far: the join's success. */
  readonly joined: Buffer;
  /** In the bytes received so far: the join's refusal. */
  readonly refused: Buffer | null;
  readonly heartbeat: Buffer | null;
}

/** The chat, as phoenix.js speaks it: a guest (no token) joins the lobby with ref "1". */
const CHAT: Speech = {
  path: '/socket/websocket?vsn=2.0.0',
  join: clientFrame(JSON.stringify(['1', '1', 'rooms:lobby', 'phx_join', {}])),
  joined: Buffer.from('"1","1","rooms:lobby","phx_reply",{"status":"ok"'),
  refused: Buffer.from('"phx_reply",{"status":"error"'),
  heartbeat: clientFrame(JSON.stringify([null, 'h', 'phoenix', 'heartbeat', {}])),
};

/** The ceiling: `J` → `J` (an unmasked one-byte text frame). */
const BARE: Speech = { path: '/', join: clientFrame('J'), joined: Buffer.from([0x81, 0x01, 0x4a]), refused: null, heartbeat: null };

/** By slot; a failed slot stays a hole. */
const sockets: Array<Socket | undefined> = [];
/** By slot: the end of the last chunk, for a marker split between two chunks. */
const tails: Array<Buffer | undefined> = [];
let joinedCount = 0;
/** Per slot: the index of the last broadcast it received (-1: none yet). */
let seen = new Int32Array(0);
let failed = 0;
let dropped = 0;
let closing = false;
let firstError: string | null = null;

/** The broadcast being waited for. */
let expected: { readonly index: number; readonly marker: Buffer; arrived: number; first: number; last: number } | null = null;

function onData(slot: number, chunk: Buffer): void {
  const wanted = expected;
  if (wanted === null || seen[slot] === wanted.index) return;
  if (!includesAcross(tails[slot], chunk, wanted.marker)) {
    tails[slot] = tailOf(chunk, wanted.marker);
    return;
  }
  const at = nowMicros();
  tails[slot] = undefined;
  seen[slot] = wanted.index;
  if (wanted.arrived === 0) wanted.first = at;
  wanted.last = at;
  wanted.arrived++;
  if (wanted.arrived === joinedCount) {
    send({ type: 'arrived', index: wanted.index, arrived: wanted.arrived, firstAt: wanted.first, lastAt: wanted.last });
    expected = null;
  }
}

/** Joined sockets by heartbeat slot: one slot per second of the heartbeat interval. */
const beatSlots: Socket[][] = [];
let beatTick = 0;

/**
 * As phoenix.js does per socket: a heartbeat every `KEEP_ALIVE_MS` from its own join on — so the
 * sockets' beats are spread over the interval by when they joined, not sent by the whole process
 * at once (a burst of 17,000 heartbeats would stand in the way of whatever is measured then).
 * Each second, the slot joined in that second of the interval beats.
 */
function startHeartbeats(beat: Buffer): void {
  const slots = Math.max(1, Math.round(KEEP_ALIVE_MS / 1000));
  for (let i = 0; i < slots; i++) beatSlots.push([]);
  setInterval(() => {
    beatTick = (beatTick + 1) % slots;
    for (const socket of beatSlots[beatTick]!) if (socket.writable) socket.write(beat);
  }, 1000).unref();
}

/** A joined socket beats from one interval after now (its slot has just beaten). */
function keepAlive(socket: Socket): void {
  beatSlots[beatTick]?.push(socket);
}

function openOne(command: LoadConnect, speech: Speech, slot: number): Promise<void> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    let joined = false;
    let settled = false;
    const fail = (reason: string): void => {
      if (settled) return;
      settled = true;
      failed++;
      firstError ??= reason;
      socket.destroy();
      resolve();
    };
    const beforeJoin = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.indexOf(speech.joined) !== -1) {
        joined = settled = true;
        received = Buffer.alloc(0);
        sockets[slot] = socket;
        keepAlive(socket);
        joinedCount++;
        resolve();
      } else if (speech.refused !== null && received.indexOf(speech.refused) !== -1) fail(`join refused: ${received.toString('utf8', 0, 200)}`);
    };
    const socket = openRaw(
      { port: command.port, path: speech.path, localAddress: `${command.addressPrefix}${2 + (slot % command.addresses)}` },
      {
        open: (raw, rest) => {
          raw.write(speech.join);
          if (rest.length > 0) beforeJoin(rest);
        },
        data: (chunk) => (joined ? onData(slot, chunk) : beforeJoin(chunk)),
        end: (reason) => {
          if (!joined) return fail(reason);
          if (!closing) dropped++;
        },
      },
    );
  });
}

async function connect(command: LoadConnect): Promise<void> {
  const speech = command.dialect === 'chat' ? CHAT : BARE;
  seen = new Int32Array(command.sockets).fill(-1);
  let next = 0;
  const startedAt = nowMicros();
  const progress = setInterval(() => send({ type: 'progress', joined: joinedCount, failed }), 1000);
  // From the first join on: connecting 17,000 sockets takes longer than the server's idle timeout (60 s).
  if (speech.heartbeat !== null) startHeartbeats(speech.heartbeat);
  const lane = async (): Promise<void> => {
    // Bounded: each lane takes slots until all `sockets` are taken.
    while (next < command.sockets) {
      const slot = next++;
      await openOne(command, speech, slot);
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.concurrency, command.sockets) }, lane));
  clearInterval(progress);
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
      for (const socket of sockets) socket?.destroy();
      process.exit(0);
  }
});
// No load process outlives its harness.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
