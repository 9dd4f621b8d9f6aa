/**
 * The part of the official `phoenix` JavaScript client (which ships no types) that the
 * official-client suite and the chat page use. `phoenix17` is the npm alias of phoenix@1.7.21 and has the same
 * surface. Payloads are `unknown` unless the caller names their type on the callback (an
 * unchecked promise about what the server sends, like a `JSON.parse` result).
 */
declare module 'phoenix' {
  /** A transport class: a WebSocket implementation (`ws`) or the client's own LongPoll. */
  export type TransportConstructor = new (endPoint: string, protocols?: string[]) => object;

  export interface SocketOptions {
    transport?: TransportConstructor;
    params?: Record<string, unknown> | (() => Record<string, unknown>);
    reconnectAfterMs?: (tries: number) => number;
    rejoinAfterMs?: (tries: number) => number;
    heartbeatIntervalMs?: number;
    timeout?: number;
    longpollerTimeout?: number;
    vsn?: string;
    /** The auth token, or (phoenix.js ≥ 1.8.9) a function returning it, called at every connect. */
    authToken?: string | (() => string);
    /** Falls back to LongPoll when no WebSocket connection opens within this long (phoenix.js ≥ 1.7.12). */
    longPollFallbackMs?: number;
    logger?: (kind: string, message: string, data: unknown) => void;
  }

  /** The close event the client passes to `onClose` callbacks. */
  export interface CloseEventLike {
    readonly code: number;
    readonly reason?: string;
  }

  /** A decoded frame as `onMessage` callbacks see it. */
  export interface ClientMessage {
    readonly topic: string;
    readonly event: string;
    readonly payload: unknown;
    readonly ref: string | null;
    readonly join_ref: string | null;
  }

  export class Push {
    receive<T = unknown>(status: string, callback: (response: T) => void): this;
  }

  export class Channel {
    readonly topic: string;
    readonly state: 'closed' | 'errored' | 'joined' | 'joining' | 'leaving';
    join(timeout?: number): Push;
    leave(timeout?: number): Push;
    push(event: string, payload: object, timeout?: number): Push;
    on<T = unknown>(event: string, callback: (payload: T) => void): number;
    off(event: string, ref?: number): void;
    onClose(callback: () => void): number;
    onError(callback: (reason: unknown) => void): number;
    joinRef(): string;
    /** Called with every message of the channel before its `on` callbacks; returns the payload they get. */
    onMessage(event: string, payload: unknown, ref: string | null, joinRef?: string | null): unknown;
  }

  export class Socket {
    constructor(endPoint: string, options?: SocketOptions);
    /** The transport instance of the current connection (a `ws` WebSocket or a LongPoll). */
    readonly conn: unknown;
    connect(): void;
    disconnect(callback?: () => void, code?: number, reason?: string): void;
    channel(topic: string, params?: Record<string, unknown> | (() => Record<string, unknown>)): Channel;
    isConnected(): boolean;
    connectionState(): string;
    ping(callback: (rttMs: number) => void): boolean;
    onOpen(callback: () => void): string;
    onClose(callback: (event: CloseEventLike) => void): string;
    onError(callback: (error: unknown) => void): string;
    onMessage(callback: (message: ClientMessage) => void): string;
  }

  export class LongPoll {
    constructor(endPoint: string, protocols?: string[]);
  }

  export interface PresenceMeta {
    readonly phx_ref: string;
    readonly [field: string]: unknown;
  }

  export interface PresenceEntry {
    readonly metas: readonly PresenceMeta[];
  }

  export class Presence {
    constructor(channel: Channel, options?: { events?: { state: string; diff: string } });
    onSync(callback: () => void): void;
    onJoin(callback: (key: string, current: PresenceEntry | undefined, joined: PresenceEntry) => void): void;
    onLeave(callback: (key: string, current: PresenceEntry, left: PresenceEntry) => void): void;
    list(): PresenceEntry[];
    list<T>(chooser: (key: string, presence: PresenceEntry) => T): T[];
  }
}

declare module 'phoenix17' {
  export * from 'phoenix';
}
