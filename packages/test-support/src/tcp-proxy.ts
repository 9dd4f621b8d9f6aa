/**
 * A TCP proxy in front of a local server that can cut the line: {@link TcpProxy.cut} destroys
 * every connection through it and drops new ones as they arrive, as a lost network would;
 * {@link TcpProxy.restore} lets connections through again. It relays bytes only, so HTTP and
 * WebSocket work through it unchanged (a page loaded through it sees the proxy as its origin).
 *
 * Browser tests use it where the browser's own offline switch falls short: Chromium's offline
 * emulation (`context.setOffline`) does not close a WebSocket that is already open.
 *
 * {@link TcpProxy.retarget} sends new connections to another server, as a load balancer does
 * when a node is gone: a client with a fixed URL reconnects to the surviving node.
 *
 * @example
 * const proxy = await TcpProxy.start(chat.port);
 * await page.goto(`http://127.0.0.1:${proxy.port}/`);
 * proxy.cut();
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** See the module doc. */
export class TcpProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #cut = false;
  #targetPort: number;

  private constructor(server: Server, targetPort: number) {
    this.#server = server;
    this.#targetPort = targetPort;
  }

  /** Listens on a free port of 127.0.0.1 and relays to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server, targetPort);
    server.on('connection', (client) => proxy.#relay(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Destroys every open connection and refuses new ones until {@link restore}. */
  cut(): void {
    this.#cut = true;
    for (const socket of this.#sockets) socket.destroy();
  }

  /** Relays new connections to `targetPort` on 127.0.0.1; open ones stay where they are. */
  retarget(targetPort: number): void {
    this.#targetPort = targetPort;
  }

  /** Lets new connections through again. */
  restore(): void {
    this.#cut = false;
  }

  /** Cuts every connection and stops listening. */
  async close(): Promise<void> {
    this.cut();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #relay(client: Socket): void {
    if (this.#cut) {
      client.destroy();
      return;
    }
    const upstream = connect(this.#targetPort, '127.0.0.1');
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.#sockets.add(from);
      from.pipe(to);
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.#sockets.delete(from);
        to.destroy();
      });
    }
  }
}
