/**
 * @module bench/client/dialects
 * How the load generator speaks to each peer — raw text frames over the `ws` package, no client
 * library, so every server pays the same client cost. A dialect is created per connection (it
 * owns that connection's ref or ack counter) and covers: the join handshake, the publish frame,
 * the ping frame, and control frames the client must answer to stay connected.
 *
 * | peer | join | publish | ping (reply carries the body back) | keep-alive |
 * | --- | --- | --- | --- | --- |
 * | starling, starling-history | `["1","1","bench:fanout","phx_join",{}]` → `phx_reply` ok | `["1",ref,"bench:fanout","publish",BODY]` | `["1",ref,"bench:fanout","ping",BODY]` | heartbeat every 30 s, as phoenix.js |
 * | socketio | server `0{…}` → `40` → `40{"sid"…}` → `420["join","bench:fanout"]` → `430[]` | `42["publish",BODY]` | `42<id>["ping",BODY]` → `43<id>[BODY]` | answer Engine.IO ping `2` with `3` |
 * | supabase | `["1","1","realtime:bench","phx_join",{"config":{"broadcast":{"self":true}}}]` at `/realtime/v1/websocket?apikey=…` | `["1",ref,"realtime:bench","broadcast",{"type":"broadcast","event":"msg","payload":BODY}]` | none: not in request/reply | heartbeat, as starling |
 * | supabase, postgres-changes | `{"config":{"postgres_changes":[{"event":"INSERT","schema":"public","table":T}],"postgres_changes_options":{"wait":true}}}`, each socket with its own key or all with one | none: rows are inserted in PostgreSQL, their `b` column (`json`) is the BODY | none | heartbeat, as starling |
 * | bare-ws | `J` → `J` | `P` + BODY | `R` + BODY | none |
 *
 * On a history topic (`starling-history`) a broadcast's `ref` is its stream position instead of
 * null — `[null,"<epoch>:<offset>","bench:fanout","msg",BODY]` — and a `phx_stream` push follows
 * each join reply. Neither changes anything here: bodies are found in any envelope, frames without
 * a body are ignored, and loss and order are checked on the body's seq. {@link Dialect.hasPosition}
 * only counts the positioned deliveries, so a run shows that history was really on.
 */
import type { ChangesJoin } from '../lib/messages.ts';
import type { PeerName } from '../lib/options.ts';
import { signBenchKey } from '../lib/supabase-key.ts';

/** The topic (Socket.IO: room) every benchmark socket joins. */
export const TOPIC = 'bench:fanout';

/** What to do with a frame received during the handshake. */
export interface HandshakeStep {
  /** A frame to send in answer, if any. */
  readonly send: string | null;
  /** True once the socket has joined. */
  readonly joined: boolean;
  /** Set when the peer refused. */
  readonly failure: string | null;
}

/** One connection's view of a peer's wire protocol. */
export interface Dialect {
  /** Path and query appended to `ws://host:port`. */
  readonly path: string;
  /** The first frame to send once the WebSocket is open, if the client speaks first. */
  opening(): string | null;
  /** Handles one handshake frame. */
  handshake(text: string): HandshakeStep;
  publish(body: string): string;
  ping(body: string): string;
  /** The answer to a control frame that carries no body (e.g. Engine.IO ping), or null. */
  control(frame: Buffer): string | null;
  /** A keep-alive frame the client sends periodically, or null if the peer needs none. */
  keepAlive(): string | null;
  /** True when a received broadcast carries a stream position (a history topic's `ref`). */
  hasPosition(frame: Buffer): boolean;
}

const QUOTE = 0x22;
const NO_POSITION = (): boolean => false;

/** A V2 broadcast starts `[null,` and then its ref: `null`, or `"<epoch>:<offset>"` on a history topic. */
function v2Position(frame: Buffer): boolean {
  return frame[6] === QUOTE;
}

/** Interval of {@link Dialect.keepAlive} frames: phoenix.js's default heartbeat. */
export const KEEP_ALIVE_MS = 30_000;

const STEP_WAIT: HandshakeStep = { send: null, joined: false, failure: null };

/** Phoenix's join handshake, as both Starling peers answer it: the `phx_reply` to ref "1". */
function joinReply(text: string): HandshakeStep {
  const frame = JSON.parse(text) as unknown[];
  if (frame[1] !== '1' || frame[3] !== 'phx_reply') return STEP_WAIT;
  const status = (frame[4] as { status?: unknown } | null)?.status;
  return status === 'ok' ? { send: null, joined: true, failure: null } : { send: null, joined: false, failure: `join refused: ${text}` };
}

function starling(): Dialect {
  let ref = 1;
  const joinFrame = JSON.stringify(['1', '1', TOPIC, 'phx_join', {}]);
  return {
    path: '/socket/websocket?vsn=2.0.0',
    opening: () => joinFrame,
    handshake: joinReply,
    publish: (body) => `["1","${++ref}","${TOPIC}","publish",${body}]`,
    ping: (body) => `["1","${++ref}","${TOPIC}","ping",${body}]`,
    control: () => null,
    keepAlive: () => `[null,"${++ref}","phoenix","heartbeat",{}]`,
    hasPosition: v2Position,
  };
}

/** The supabase peer's fan-out key: role anon. */
const SUPABASE_BENCH_KEY = signBenchKey({ role: 'anon' });
const SUPABASE_TOPIC = 'realtime:bench';
/** How long a postgres_changes join may wait for its bindings to be live. */
const CHANGES_WAIT_MS = 30_000;

/**
 * A subscriber of the postgres-changes scenario: INSERTs of one table, the join reply held until
 * live. Nothing to publish: the rows come from PostgreSQL.
 */
function supabaseChanges(changes: ChangesJoin, index: number): Dialect {
  let ref = 1;
  const sub = changes.claims === 'shared' ? 'shared' : `user-${changes.first + index}`;
  const config = {
    broadcast: { self: false },
    presence: { enabled: false },
    postgres_changes: [{ event: 'INSERT', schema: 'public', table: changes.table }],
    postgres_changes_options: { wait: true, timeout: CHANGES_WAIT_MS },
  };
  const joinFrame = JSON.stringify(['1', '1', SUPABASE_TOPIC, 'phx_join', { config }]);
  return {
    path: `/realtime/v1/websocket?apikey=${signBenchKey({ role: 'authenticated', sub })}&vsn=2.0.0`,
    opening: () => joinFrame,
    handshake: joinReply,
    publish: () => {
      throw new Error('postgres-changes subscribers do not publish: rows are inserted in PostgreSQL');
    },
    ping: () => {
      throw new Error('the supabase peer has no request/reply');
    },
    control: () => null,
    keepAlive: () => `[null,"${++ref}","phoenix","heartbeat",{}]`,
    hasPosition: NO_POSITION,
  };
}

function supabase(): Dialect {
  let ref = 1;
  const joinFrame = JSON.stringify(['1', '1', SUPABASE_TOPIC, 'phx_join', { config: { broadcast: { self: true }, presence: { enabled: false } } }]);
  return {
    path: `/realtime/v1/websocket?apikey=${SUPABASE_BENCH_KEY}&vsn=2.0.0`,
    opening: () => joinFrame,
    handshake: joinReply,
    // JSON text, as realtime-js sends over V1 (over V2 it packs the same into a binary kind 3 frame).
    publish: (body) => `["1","${++ref}","${SUPABASE_TOPIC}","broadcast",{"type":"broadcast","event":"msg","payload":${body}}]`,
    ping: () => {
      throw new Error('the supabase peer has no request/reply');
    },
    control: () => null,
    keepAlive: () => `[null,"${++ref}","phoenix","heartbeat",{}]`,
    hasPosition: v2Position,
  };
}

const ENGINE_PING = 0x32; // '2'

function socketio(): Dialect {
  let ackId = 1;
  return {
    path: '/socket.io/?EIO=4&transport=websocket',
    opening: () => null,
    handshake(text) {
      if (text === '2') return { send: '3', joined: false, failure: null };
      if (text.startsWith('0{')) return { send: '40', joined: false, failure: null };
      if (text.startsWith('40')) return { send: `420${JSON.stringify(['join', TOPIC])}`, joined: false, failure: null };
      if (text.startsWith('430')) return { send: null, joined: true, failure: null };
      if (text.startsWith('44')) return { send: null, joined: false, failure: `connect refused: ${text}` };
      return STEP_WAIT;
    },
    publish: (body) => `42["publish",${body}]`,
    ping: (body) => `42${++ackId}["ping",${body}]`,
    control: (frame) => (frame.length === 1 && frame[0] === ENGINE_PING ? '3' : null),
    keepAlive: () => null,
    hasPosition: NO_POSITION,
  };
}

function bareWs(): Dialect {
  return {
    path: '/',
    opening: () => 'J',
    handshake: (text) => (text === 'J' ? { send: null, joined: true, failure: null } : STEP_WAIT),
    publish: (body) => `P${body}`,
    ping: (body) => `R${body}`,
    control: () => null,
    keepAlive: () => null,
    hasPosition: NO_POSITION,
  };
}

/** A fresh dialect for connection `index` (of one connect command) to `peer`; `changes` for the postgres-changes join. */
export function dialectFor(peer: PeerName, index = 0, changes?: ChangesJoin): Dialect {
  if (changes !== undefined) {
    if (peer !== 'supabase') throw new Error(`postgres_changes is served by the supabase peer, not ${peer}`);
    return supabaseChanges(changes, index);
  }
  switch (peer) {
    case 'starling':
    case 'starling-history':
      return starling();
    case 'supabase':
      return supabase();
    case 'socketio':
      return socketio();
    case 'bare-ws':
      return bareWs();
  }
}
