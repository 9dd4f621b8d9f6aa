/**
 * @module transport/connections-per-ip
 * Internal: counts a mount's open connections (WebSockets and LongPoll sessions together) per
 * remote IP address, for `maxConnectionsPerIp`. A slot is taken *before* `connect` runs — so a
 * burst of simultaneous handshakes cannot overshoot — and given back when the handshake fails or
 * the connection ends.
 *
 * The address is the client's (`clientAddressOf`): the TCP peer's, or behind one of the endpoint's
 * `trustedProxies` the address it forwarded (a forwarding header from any other peer is ignored,
 * since any client can write one).
 *
 * @example
 * const release = perIp.acquire(clientAddressOf(mount, req));
 * if (release === null) return rejectUpgrade(socket, 429);
 * socket.once('close', release);
 */

/** Open connections per IP address of one mount. */
export class ConnectionsPerIp {
  readonly #open = new Map<string, number>();

  private readonly max: number;
  constructor(max: number) {
    this.max = max;
  }

  /**
   * Takes a slot for `ip`.
   * @returns a function that gives the slot back (idempotent), or null when `ip` already holds `max`
   */
  acquire(ip: string): (() => void) | null {
    const count = this.#open.get(ip) ?? 0;
    if (count >= this.max) return null;
    this.#open.set(ip, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(ip) ?? 1) - 1;
      if (left <= 0) this.#open.delete(ip);
      else this.#open.set(ip, left);
    };
  }
}
