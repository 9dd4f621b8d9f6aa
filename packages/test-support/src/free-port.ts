/**
 * A port for a server a test starts a moment later, often in a child process (a node, a chat
 * server, a throwaway Redis, NATS or PostgreSQL).
 *
 * Picked below the kernel's ephemeral range (Linux's `net.ipv4.ip_local_port_range` is
 * 32768–60999; other systems' start higher): ports in that range go to every outgoing connection
 * and every `listen(0)`, and test files running in parallel open thousands of those (the fuzz
 * alone 20,000), so a port found free there may be taken before the server binds it.
 */
import { createServer } from 'node:net';

const LOWEST = 20_000;
const COUNT = 12_000;

/** Resolves with a port on 127.0.0.1, below the ephemeral range, that nothing listens on now. */
export async function freePort(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * COUNT);
    if (await bindable(port)) return port;
    if (attempt === 100) throw new Error(`no free port found in ${LOWEST}–${LOWEST + COUNT - 1} after 100 tries`);
  }
}

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
