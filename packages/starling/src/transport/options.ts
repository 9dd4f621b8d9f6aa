/**
 * @module transport/options
 * The options of the two transports, as a socket mount takes them
 * (`endpoint.socket(path, socket, { websocket: {…}, longpoll: {…} })`). Every limit here has a
 * safe default; `docs/errors.md` lists what each one does to a client that crosses it.
 */

/** Options of the WebSocket transport. */
export interface WebSocketOptions {
  /** Largest accepted inbound frame in bytes; larger closes with 1009. Default 1 MiB. */
  maxFrameSize?: number | undefined;
  /** Close with 1002 after this long without an inbound frame. Default 60 s. */
  idleTimeoutMs?: number | undefined;
  /** Negotiate permessage-deflate. Off by default: it compresses per socket and undoes encode-once fan-out. */
  compress?: boolean | undefined;
  /**
   * Bytes a socket may leave waiting to be sent from one event-loop turn to the next (written but
   * not yet taken by the kernel) before it is a slow reader: closed with 1008 and its TCP
   * connection destroyed at once. Keep it above the largest frame a healthy client receives.
   * Default 1 MiB.
   */
  maxQueuedBytes?: number | undefined;
}

/** Options of the LongPoll transport. */
export interface LongPollOptions {
  /** How long a poll is held when nothing is buffered, and how long a POST may wait. Default 10 s. */
  windowMs?: number | undefined;
  /** Largest accepted POST body (larger: HTTP 413). Default 1 MiB, as the WebSocket frame limit. */
  maxBodyBytes?: number | undefined;
  /**
   * Open sessions of this mount on this node, all clients together; a GET that would open one more
   * is refused (`{"status":403}`, counted in `stats.longpollSessionsRefused`). Default 10,000.
   */
  maxSessions?: number | undefined;
  /** How long a request forwarded to the session's node may wait for its acknowledgement. Default 2 s. */
  pubsubTimeoutMs?: number | undefined;
  /**
   * UTF-8 bytes of frames a session may buffer between polls; a frame beyond it ends the session
   * as a slow reader (next poll: 410) — a single larger frame still travels. Default 1 MiB. A
   * recovery replay is sent only into half of what is left (docs/recovery.md §4.1), so that a
   * client that missed a lot rejoins with `recovered: false` rather than in a 410 loop: keep
   * `history.maxReplayBytes` at a quarter of this or less.
   */
  maxQueuedBytes?: number | undefined;
}
