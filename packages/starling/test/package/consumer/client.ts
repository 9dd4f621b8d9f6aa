// The package README's client example, compiled as a user compiles it: phoenix + @types/phoenix.
import { Socket } from 'phoenix';
import { recoverableChannel, typedChannel } from 'starling-channels/client';

// Shared with the server's Channel<Assigns, RoomEvents> (a type-only import in real code).
type RoomEvents = {
  in: { new_msg: { body: string }; history: { before: number } };
  out: { new_msg: { body: string; author: string } };
  replies: { history: { messages: string[] } };
};

const socket = new Socket('/socket', { params: { token: 'a signed token' } });
socket.connect();
const room = typedChannel<RoomEvents>(socket.channel('rooms:lobby', {}));
room.on('new_msg', ({ body, author }) => console.log(author, body));
room.join().receive('ok', () => {
  room.push('history', { before: 100 }).receive('ok', ({ messages }) => console.log(messages.length));
});

// On a history topic: every rejoin sends the last position seen, and the server replays the gap.
const news = recoverableChannel(socket, 'news:lobby', {
  onStream: ({ recovered }) => {
    if (recovered === false) console.log('too much was missed: reload the latest page');
  },
});
typedChannel<RoomEvents>(news.channel).on('new_msg', ({ body }) => console.log(body));
news.channel.join();
