/**
 * @module starling-channels/client/recovery
 * Gap-free rejoins for the official `phoenix` client (docs/recovery.md): remembers the last stream
 * position a channel saw — the `ref` of every publication on a history topic, and the position of
 * each `phx_stream` push — and sends it as `recover` with every join and rejoin, so that after a
 * reconnect the server replays exactly what was missed. When it cannot (`recovered: false`), the
 * app is told to refetch its state. Like the rest of `starling-channels/client` it imports nothing.
 *
 * @example
 * import { Socket } from 'phoenix';
 * import { recoverableChannel } from 'starling-channels/client';
 *
 * const socket = new Socket('/socket', { params: { token } });
 * socket.connect();
 * const room = recoverableChannel(socket, 'rooms:lobby', {
 *   onStream: ({ recovered }) => {
 *     if (recovered === false) void reloadHistory(); // the outage was longer than the server keeps
 *   },
 * });
 * room.channel.on('new_msg', (message) => show(message));
 * room.channel.join();
 */

/** The `phx_stream` push the server sends after every join on a history topic. */
export interface StreamNotice {
  /** The latest position of the topic's stream, `"<epoch>:<offset>"`: everything up to it was delivered or is known. */
  readonly position: string;
  /**
   * `true`: everything missed since the position sent as `recover` was replayed before this push.
   * `false`: it could not be (too old, or the server lost its history) — refetch your state.
   * Absent on a join that sent no position.
   */
  readonly recovered?: boolean;
}

/** What {@link recoverableChannel} needs of a phoenix channel: its message hook. */
export interface HookableChannel {
  onMessage(event: string, payload: unknown, ref: string | null, joinRef?: string | null): unknown;
}

/** What {@link recoverableChannel} needs of a phoenix socket. */
export interface ChannelFactory<C extends HookableChannel> {
  channel(topic: string, params: () => Record<string, unknown>): C;
}

/** Options of {@link recoverableChannel}. */
export interface RecoveryOptions {
  /** The join params besides `recover`, or a function returning them (called on every join). */
  params?: Record<string, unknown> | (() => Record<string, unknown>);
  /** A position to start from, e.g. kept in `sessionStorage` across page loads; default none. */
  position?: string | null;
  /** Called with every `phx_stream` push, after any replay and before live traffic. */
  onStream?: (notice: StreamNotice) => void;
}

/** A phoenix channel that resumes from its last position. */
export interface RecoverableChannel<C> {
  /** The phoenix channel: `on`, `join`, `push` as usual. */
  readonly channel: C;
  /** The last position seen, or null before the first `phx_stream`. */
  readonly position: string | null;
}

const POSITION = /^[^:]{1,64}:(0|[1-9]\d{0,15})$/;

/**
 * Opens `topic` on `socket` (`socket.channel(topic, params)`) so that every join sends the last
 * position seen as `recover`. The channel's `onMessage` hook is wrapped (and still called).
 */
export function recoverableChannel<C extends HookableChannel>(socket: ChannelFactory<C>, topic: string, options: RecoveryOptions = {}): RecoverableChannel<C> {
  const { params, onStream } = options;
  let position = options.position ?? null;
  const channel = socket.channel(topic, () => {
    const base = typeof params === 'function' ? params() : (params ?? {});
    return position === null ? { ...base } : { ...base, recover: position };
  });
  const hook = channel.onMessage.bind(channel);
  channel.onMessage = (event, payload, ref, joinRef) => {
    if (event === 'phx_stream') {
      const notice = payload as StreamNotice;
      if (typeof notice.position === 'string') position = notice.position;
      onStream?.(notice);
    } else if (event !== 'phx_reply' && typeof ref === 'string' && POSITION.test(ref)) {
      position = ref;
    }
    return hook(event, payload, ref, joinRef);
  };
  return {
    channel,
    get position() {
      return position;
    },
  };
}
