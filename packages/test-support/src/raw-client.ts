/**
 * A WebSocket client that speaks raw frames, with no client library: what the raw-frame suite
 * uses to check the server byte by byte. Frames are collected in arrival order; `next` waits for
 * the next one matching a predicate.
 */
import WebSocket from 'ws';

/** A received frame: parsed JSON for text frames, the bytes for binary frames. */
export type Received = { readonly binary: false; readonly json: unknown; readonly text: string } | { readonly binary: true; readonly bytes: Buffer };

/** Options of {@link RawClient.connect}. */
export interface RawConnectOptions {
  protocols?: string[];
  headers?: Record<string, string>;
  /** ws client max payload (to receive big frames). */
  maxPayload?: number;
}

/** The outcome of a refused or failed upgrade. */
export interface UpgradeFailure {
  readonly status: number;
  readonly body: string;
}

/** A raw-frame WebSocket client. */
export class RawClient {
  readonly frames: Received[] = [];
  #waiters: Array<() => void> = [];
  readonly closed: Promise<{ code: number; reason: string }>;

  readonly ws: WebSocket;
  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.on('message', (data: Buffer, binary: boolean) => {
      this.frames.push(
        binary ? { binary: true, bytes: Buffer.from(data) } : { binary: false, json: JSON.parse(data.toString('utf8')), text: data.toString('utf8') },
      );
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const wake of waiters) wake();
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
    ws.on('error', () => {});
  }

  /** Opens a socket; rejects with an {@link UpgradeFailure}-carrying error when the upgrade is refused. */
  static connect(url: string, options: RawConnectOptions = {}): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, maxPayload: options.maxPayload ?? 100 * 1024 * 1024 });
      const client = new RawClient(ws);
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { failure: { status: res.statusCode ?? 0, body } })));
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Sends a V2 array (or any JSON value) as a text frame. */
  send(frame: unknown): void {
    this.ws.send(JSON.stringify(frame));
  }

  /** Sends raw bytes or text as they are. */
  sendRaw(data: string | Buffer, binary = typeof data !== 'string'): void {
    this.ws.send(data, { binary });
  }

  /** Waits for the next frame (from `from` on, in arrival order) that matches `match`. */
  async next(match: (frame: Received) => boolean = () => true, timeoutMs = 2000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    let index = 0;
    for (;;) {
      for (; index < this.frames.length; index++) {
        const frame = this.frames[index]!;
        if (match(frame)) {
          this.frames.splice(index, 1);
          return frame;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching frame within ${timeoutMs} ms; received: ${this.frames.map(describe).join(' | ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits for the next text frame matching `match` and returns its parsed JSON. */
  async nextJson(match: (json: unknown[]) => boolean = () => true, timeoutMs = 2000): Promise<unknown[]> {
    const frame = await this.next((f) => !f.binary && Array.isArray(f.json) && match(f.json as unknown[]), timeoutMs);
    return (frame as { json: unknown[] }).json;
  }

  /** Waits for the V2 reply to `ref`. */
  reply(ref: unknown, timeoutMs = 2000): Promise<unknown[]> {
    return this.nextJson((f) => f[1] === ref && f[3] === 'phx_reply', timeoutMs);
  }

  /** Resolves true if no frame matching `match` arrives within `ms`. */
  async none(match: (frame: Received) => boolean, ms: number): Promise<boolean> {
    try {
      await this.next(match, ms);
      return false;
    } catch {
      return true;
    }
  }

  /** Closes the socket. */
  close(): void {
    this.ws.close();
  }
}

function describe(frame: Received): string {
  return frame.binary ? `<binary ${frame.bytes.toString('hex')}>` : frame.text;
}

/** The outcome of a WebSocket handshake attempt. */
export interface UpgradeOutcome {
  /** HTTP status of the answer: 101 on success. */
  readonly status: number;
  /** The `Sec-WebSocket-Protocol` the server chose, if any. */
  readonly protocol: string | undefined;
  /** The response body of a refused upgrade. */
  readonly body: string;
}

/** Attempts a WebSocket upgrade and reports the HTTP outcome; an accepted socket is closed at once. */
export function tryUpgrade(
  url: string,
  options: { protocols?: string[]; headers?: Record<string, string>; localAddress?: string } = {},
): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? [], { headers: options.headers, localAddress: options.localAddress });
    let status = 0;
    let protocol: string | undefined;
    ws.once('upgrade', (res) => {
      status = res.statusCode ?? 0;
      const header = res.headers['sec-websocket-protocol'];
      protocol = Array.isArray(header) ? header.join(',') : header;
    });
    ws.once('open', () => {
      ws.close();
      resolve({ status, protocol, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, protocol: undefined, body }));
    });
    ws.once('error', reject);
  });
}
