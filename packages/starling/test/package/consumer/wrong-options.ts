// Must not compile: each line misuses the public API in a way its types forbid.
import { Endpoint, Socket, ok, type Channel } from 'starling';

new Endpoint({ checkOrigin: 42 });
new Endpoint().socket('/socket', new Socket(), { websocket: { maxFrameSize: '1 MiB' } });
export const Wrong = { join: () => ok(), handleIn: () => 'not a result' } satisfies Channel;
