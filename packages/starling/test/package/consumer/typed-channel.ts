// A typed channel in a strict consumer: the event maps narrow handleIn and restrict broadcasts;
// starling-channels/client types the official client's channel by the same maps. Reply literals
// need no `as const`, handleInByEvent types each event's reply, and pushes take the schemas' input.
import { handleInByEvent, noreply, ok, reply, type Channel, type InferEvents, type StandardSchemaV1 } from 'starling-channels';
import { recoverableChannel, typedChannel, type ChannelFactory, type HookableChannel, type PhoenixChannel } from 'starling-channels/client';

type Assigns = { user: string };
type Events = { in: { new_msg: { body: string } }; out: { new_msg: { body: string; author: string } } };

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

export function listen(channel: PhoenixChannel): void {
  const room = typedChannel<Events>(channel);
  room.on('new_msg', ({ body, author }) => console.log(author, body.length));
  room.push('new_msg', { body: 'hi' });
}

// Gap-free rejoins: the helper takes the socket, returns the channel and the last position seen.
export function resume<C extends PhoenixChannel & HookableChannel>(socket: ChannelFactory<C>, reload: () => void): string | null {
  const room = recoverableChannel(socket, 'rooms:lobby', {
    params: () => ({ token: 't' }),
    onStream: ({ position, recovered }) => {
      if (recovered === false) reload();
      console.log(position.length);
    },
  });
  typedChannel<Events>(room.channel).on('new_msg', ({ body }) => console.log(body));
  room.channel.join();
  return room.position;
}

// A declared literal reply, per event: each handler answers its own event's reply.
type Lobby = {
  in: { ready: { seat: number }; leave: Record<string, never> };
  out: { seated: { seat: number } };
  replies: { ready: { accepted: true; seats: number[] } };
};
export const LobbyChannel = {
  join: () => ok(),
  handleIn: handleInByEvent({
    ready(payload, socket) {
      socket.broadcast('seated', { seat: payload.seat });
      return reply('ok', { accepted: true, seats: [payload.seat] });
    },
    leave: () => reply('ok'),
  }),
} satisfies Channel<Assigns, Lobby>;

// The client pushes a schema's input: a defaulted field may be left out.
declare const rounds: StandardSchemaV1<{ rounds?: number | undefined }, { rounds: number }>;
type Game = InferEvents<{ start: typeof rounds }> & { out: Record<never, never> };
export function start(channel: PhoenixChannel): void {
  typedChannel<Game>(channel).push('start', {});
}
