// Must not compile: each line misuses the public API in a way its types forbid.
import { Endpoint, Socket, ok, type Channel } from 'starling-channels';

new Endpoint({ checkOrigin: 42 });
new Endpoint().socket('/socket', new Socket(), { websocket: { maxFrameSize: '1 MiB' } });
export const Wrong = { join: () => ok(), handleIn: () => 'not a result' } satisfies Channel;
type Room = Channel<{ user: string }, { in: { new_msg: { body: string } }; out: { new_msg: { body: string; author: string } } }>;
export const WrongBroadcast = { join: () => ok(), handleIn: (_e, _p, socket) => socket.broadcast('new_msg', { wrong: 1 }) } satisfies Room;
export const WrongRead = { join: () => ok(), handleIn: (_e, payload, _s) => void payload.nope } satisfies Room;
type Two = Channel<{ user: string }, { in: { a: { n: number }; b: { s: string } }; out: Record<never, never> }>;
export const TwoParameters = { join: () => ok(), handleIn: (event, payload) => void [event, payload] } satisfies Two;
