/**
 * Serializer dialects and a dialect-aware raw client for the WebSocket conformance suite.
 *
 * Tests are written once with the V2 shape of a frame, `[join_ref, ref, topic, event, payload]`,
 * exactly as docs/protocol.md writes them, and run against every serializer: a {@link Dialect} turns
 * that tuple into what the client must send (a V2 array, or a V1 object
 * `{topic, event, payload, ref, join_ref}`) and into what the server must send back (a V2 array,
 * or a V1 object `{event, payload, ref, topic}` — never a `join_ref`). Assertions compare parsed
 * JSON with `toEqual`, so a missing or extra key fails.
 */
import type { Socket as NetSocket } from 'node:net';
import { afterEach } from 'vitest';
import { startFixture, type Fixture } from './fixture.ts';
import { RawClient, type RawConnectOptions, type Received } from '@starling/test-support/raw-client';

/** A ref or join_ref as it travels in JSON. */
export type WireRef = string | number | null;

/** A frame in the V2 order: `[join_ref, ref, topic, event, payload]`. */
export type Tuple = readonly [joinRef: WireRef, ref: WireRef, topic: string, event: string, payload: unknown];

/** One serializer as seen from the wire. */
export interface Dialect {
  /** For test names. */
  readonly name: string;
  /** The `vsn` query parameter, or null to send none. */
  readonly vsn: string | null;
  /** True when the server's frames carry the join_ref (V2); V1 frames never do. */
  readonly carriesJoinRef: boolean;
  /** The JSON value the client sends for `frame`. */
  encode(frame: Tuple): unknown;
  /** The exact JSON value the server must send for `frame`. */
  wire(frame: Tuple): unknown;
  /** Reads a server frame back into a tuple (join_ref null for V1), or null if it has another shape. */
  read(json: unknown): Tuple | null;
}

/** V2 JSON, phoenix.js's default: arrays both ways. */
export const V2: Dialect = {
  name: 'V2 JSON (vsn=2.0.0)',
  vsn: '2.0.0',
  carriesJoinRef: true,
  encode: (frame) => [...frame],
  wire: (frame) => [...frame],
  read: (json) => (Array.isArray(json) && json.length === 5 ? (json as unknown as Tuple) : null),
};

function v1(name: string, vsn: string | null): Dialect {
  return {
    name,
    vsn,
    carriesJoinRef: false,
    encode: ([joinRef, ref, topic, event, payload]) => ({ topic, event, payload, ref, join_ref: joinRef }),
    wire: ([, ref, topic, event, payload]) => ({ event, payload, ref, topic }),
    read(json) {
      if (typeof json !== 'object' || json === null || Array.isArray(json)) return null;
      const { topic, event, payload, ref } = json as Record<string, unknown>;
      if (typeof topic !== 'string' || typeof event !== 'string') return null;
      return [null, ref as WireRef, topic, event, payload];
    },
  };
}

/** V1 JSON asked for explicitly. */
export const V1 = v1('V1 JSON (vsn=1.0.0)', '1.0.0');
/** V1 JSON because the client sent no `vsn` at all. */
export const V1_NO_VSN = v1('V1 JSON (no vsn)', null);
/** Every JSON dialect; loop over it with `describe.each`. */
export const JSON_DIALECTS: readonly Dialect[] = [V2, V1, V1_NO_VSN];

/** The `{status, response}` payload of a `phx_reply`. */
export const replyPayload = (status: string, response: unknown = {}): { status: string; response: unknown } => ({ status, response });

/** A frame as {@link WireClient.nextFrames} reports it: parsed JSON for text, the bytes for binary. */
export type Seen = unknown;

function seen(frame: Received): Seen {
  return frame.binary ? frame.bytes : frame.json;
}

/** Builds `<wsUrl>?<params>&vsn=<vsn>` (user params first, then vsn, as phoenix.js does). */
export function socketUrl(wsUrl: string, vsn: string | null, params: Record<string, string> = {}): string {
  const query = new URLSearchParams(params);
  if (vsn !== null) query.set('vsn', vsn);
  const text = query.toString();
  return text === '' ? wsUrl : `${wsUrl}?${text}`;
}

/** A raw WebSocket client that sends and reads frames in one dialect. */
export class WireClient {
  readonly raw: RawClient;
  readonly dialect: Dialect;
  private constructor(raw: RawClient, dialect: Dialect) {
    this.raw = raw;
    this.dialect = dialect;
  }

  /** Connects to the fixture's WebSocket in `dialect`, with connect `params`. */
  static async connect(
    fixture: Fixture | { wsUrl: string },
    dialect: Dialect = V2,
    params: Record<string, string> = {},
    options?: RawConnectOptions,
  ): Promise<WireClient> {
    return new WireClient(await RawClient.connect(socketUrl(fixture.wsUrl, dialect.vsn, params), options), dialect);
  }

  /** Resolves with the close code and reason once the server (or we) closed the socket. */
  get closed(): Promise<{ code: number; reason: string }> {
    return this.raw.closed;
  }

  /** Sends `frame` encoded in this client's dialect. */
  send(frame: Tuple): void {
    this.raw.send(this.dialect.encode(frame));
  }

  /**
   * Sends several frames in one TCP write (the socket is corked around them), so the server's
   * WebSocket parser sees them in one chunk and dispatches them in the same tick.
   */
  sendTogether(frames: readonly Tuple[]): void {
    // `_socket` is ws's underlying net.Socket; it is not part of ws's typed API.
    const socket = (this.raw.ws as unknown as { _socket: NetSocket })._socket;
    socket.cork();
    for (const frame of frames) this.send(frame);
    socket.uncork();
  }

  /** The exact JSON the server must send for `frame` in this client's dialect. */
  wire(frame: Tuple): unknown {
    return this.dialect.wire(frame);
  }

  /** Waits for the next text frame whose tuple matches `match`; returns its exact JSON. */
  async receive(match: (frame: Tuple) => boolean = () => true, timeoutMs = 2000): Promise<unknown> {
    const frame = await this.raw.next((f) => {
      if (f.binary) return false;
      const tuple = this.dialect.read(f.json);
      return tuple !== null && match(tuple);
    }, timeoutMs);
    return seen(frame);
  }

  /** Waits for the `phx_reply` to `ref`; returns its exact JSON. */
  reply(ref: WireRef, timeoutMs = 2000): Promise<unknown> {
    return this.receive((f) => f[1] === ref && f[3] === 'phx_reply', timeoutMs);
  }

  /** Sends `phx_join` with join_ref = ref = `joinRef` and waits for its reply. */
  async join(topic: string, joinRef: string, payload: unknown = {}): Promise<unknown> {
    this.send([joinRef, joinRef, topic, 'phx_join', payload]);
    return this.reply(joinRef);
  }

  /** Sends `frame` and waits for the reply to its ref. */
  async push(frame: Tuple, timeoutMs = 2000): Promise<unknown> {
    this.send(frame);
    return this.reply(frame[1], timeoutMs);
  }

  /** The next `count` frames in arrival order (text as parsed JSON, binary as bytes). */
  async nextFrames(count: number, timeoutMs = 2000): Promise<Seen[]> {
    const frames: Seen[] = [];
    for (let i = 0; i < count; i++) frames.push(seen(await this.raw.next(() => true, timeoutMs)));
    return frames;
  }

  /**
   * Sends a heartbeat with ref `ref` and returns every frame that arrived before its reply, in
   * order. Inbound frames are handled in order, so this shows what the frames sent before it caused.
   */
  async framesBeforeHeartbeat(ref: string, timeoutMs = 2000): Promise<Seen[]> {
    this.send([null, ref, 'phoenix', 'heartbeat', {}]);
    const frames: Seen[] = [];
    for (;;) {
      const frame = await this.raw.next(() => true, timeoutMs);
      const tuple = frame.binary ? null : this.dialect.read(frame.json);
      if (tuple !== null && tuple[2] === 'phoenix' && tuple[1] === ref && tuple[3] === 'phx_reply') return frames;
      frames.push(seen(frame));
    }
  }

  /** True if no text frame matching `match` arrives within `ms`. */
  none(match: (frame: Tuple) => boolean, ms: number): Promise<boolean> {
    return this.raw.none((f) => {
      if (f.binary) return false;
      const tuple = this.dialect.read(f.json);
      return tuple !== null && match(tuple);
    }, ms);
  }

  /** Closes the socket from the client side. */
  close(): void {
    this.raw.close();
  }
}

/**
 * Registers an `afterEach` that closes every fixture and client made through the returned
 * functions, so each test starts its own server on a free port and leaves nothing behind.
 */
export function useFixtures(): {
  start: (options?: Parameters<typeof startFixture>[0]) => Promise<Fixture>;
  connect: (fixture: Fixture | { wsUrl: string }, dialect?: Dialect, params?: Record<string, string>, options?: RawConnectOptions) => Promise<WireClient>;
  /** Registers any other closable resource (e.g. a custom endpoint). */
  track: <T extends { close(): unknown }>(resource: T) => T;
} {
  const resources: Array<{ close(): unknown }> = [];
  const clients: WireClient[] = [];
  afterEach(async () => {
    for (const client of clients.splice(0)) client.close();
    await Promise.all(resources.splice(0).map((resource) => resource.close()));
  });
  const track = <T extends { close(): unknown }>(resource: T): T => {
    // Closing twice (a test that drains the endpoint itself) must be harmless.
    let closing: unknown;
    resources.push({ close: () => (closing ??= resource.close()) });
    return resource;
  };
  return {
    track,
    start: async (options) => {
      const fixture = await startFixture(options);
      let closing: Promise<void> | undefined;
      const once = { ...fixture, close: () => (closing ??= fixture.close()) };
      resources.push(once);
      return once;
    },
    connect: async (fixture, dialect = V2, params = {}, options) => {
      const client = await WireClient.connect(fixture, dialect, params, options);
      clients.push(client);
      return client;
    },
  };
}
