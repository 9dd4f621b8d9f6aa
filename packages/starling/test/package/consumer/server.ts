import { Endpoint, Socket, accept, error, ok, reply, type Channel } from 'starling-channels';

type Assigns = { user: string };

const RoomChannel = {
  join(topic, _params, socket) {
    if (topic !== 'rooms:lobby') return error({ reason: 'unauthorized' });
    return ok({ hello: socket.assigns.user });
  },
  handleIn(event, payload, socket) {
    const body = (payload as { body?: unknown }).body; // client input: check it
    if (event !== 'new_msg' || typeof body !== 'string') return reply('error', { reason: 'bad message' });
    socket.broadcast('new_msg', { body, user: socket.assigns.user });
    return reply('ok', { accepted: true });
  },
} satisfies Channel<Assigns>;

// A real app verifies a signed token here: endpoint.tokens.verify('user socket', params.token, { maxAge })
const userSocket = new Socket<Assigns>({
  connect: (params) => accept({ user: typeof params.user === 'string' ? params.user : 'anonymous' }),
}).channel('rooms:*', RoomChannel);

const endpoint = new Endpoint({ secretKeyBase: process.env.SECRET_KEY_BASE }).socket('/socket', userSocket);
const server = await endpoint.listen({ port: Number(process.env.PORT ?? 4000), host: '127.0.0.1' });
console.log(JSON.stringify({ listening: server.address() }));
process.once('SIGTERM', () => void endpoint.close().then(() => process.exit(0)));
