// A typed channel in a strict consumer: the event maps narrow handleIn and restrict broadcasts.
import { noreply, ok, reply, type Channel } from 'starling';

type Assigns = { user: string };

export const RoomChannel = {
  join: () => ok(),
  handleIn(event, payload, socket) {
    if (event === 'new_msg') {
      socket.broadcast('new_msg', { body: payload.body, author: socket.assigns.user });
      return reply('ok', { length: payload.body.length });
    }
    return noreply();
  },
} satisfies Channel<Assigns, { in: { new_msg: { body: string } }; out: { new_msg: { body: string; author: string } } }>;
