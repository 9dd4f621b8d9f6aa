/**
 * A reverse proxy in front of a local server, as nginx or a load balancer is in a deployment: it
 * listens on 127.0.0.1, forwards HTTP requests and WebSocket upgrades to the server from
 * 127.0.0.1 (so the server's TCP peer is always the proxy), and appends the address of the
 * client it saw to `X-Forwarded-For`, as `proxy_add_x_forwarded_for` does (a header the client
 * sent itself is kept in front, never trusted).
 *
 * Clients stand for different machines by connecting from other loopback addresses
 * (`localAddress: "127.0.0.2"`). `forwardedFor` maps the address the proxy saw to the one it
 * writes, so that a test can stand for clients on the internet (`127.0.0.2` → `203.0.113.2`).
 *
 * @example
 * const proxy = await ForwardingProxy.start(chat.port);
 * await fetch(`http://127.0.0.1:${proxy.port}/api/identity`, { method: 'POST' });
 */
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** Options of {@link ForwardingProxy.start}. */
export interface ForwardingProxyOptions {
  /** The client address the proxy writes for the peer it saw. Default: that peer's address. */
  readonly forwardedFor?: (peer: string) => string;
}

/** See the module doc. */
export class ForwardingProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Duplex>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Listens on a free port of 127.0.0.1 and forwards to `targetPort` on 127.0.0.1. */
  static async start(targetPort: number, options: ForwardingProxyOptions = {}): Promise<ForwardingProxy> {
    const forwardedFor = options.forwardedFor ?? ((peer: string) => peer);
    const headersOf = (req: IncomingMessage): Record<string, string | string[]> => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(req.headers)) if (value !== undefined) headers[name] = value;
      const peer = forwardedFor((req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
      const sent = req.headers['x-forwarded-for'];
      headers['x-forwarded-for'] = sent === undefined ? peer : `${sent}, ${peer}`;
      return headers;
    };
    const server = createServer((req, res) => {
      const upstream = request({ host: '127.0.0.1', port: targetPort, method: req.method, path: req.url, headers: headersOf(req) }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    const proxy = new ForwardingProxy(server);
    server.on('connection', (socket: Socket) => proxy.#track(socket));
    server.on('upgrade', (req: IncomingMessage, client: Duplex, head: Buffer) => {
      const upstream = connect(targetPort, '127.0.0.1', () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (const [name, value] of Object.entries(headersOf(req))) {
          for (const one of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${one}`);
        }
        upstream.write(`${lines.join('\r\n')}\r\n\r\n`);
        upstream.write(head);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      proxy.#track(upstream);
      upstream.on('error', () => client.destroy());
      client.on('error', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.on('close', () => upstream.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  /** The port the proxy listens on. */
  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Destroys every open connection and stops listening. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  #track(socket: Duplex): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}
