/**
 * @module sqlite-writer
 * A child process for the SQLite durability test: `node --import tsx sqlite-writer.ts FILE ROOM`
 * opens the store at FILE and appends to ROOM until it is killed, printing each message's id on a
 * line of its own only after `append` resolved. The test SIGKILLs it mid-stream and checks that
 * every id it printed is in the file.
 */
import { SqliteChatStore } from '../../src/store/sqlite/sqlite-chat-store.ts';

const [file, room] = process.argv.slice(2);
if (file === undefined || room === undefined) throw new Error('usage: sqlite-writer.ts FILE ROOM');

const store = SqliteChatStore.open(file);
for (let i = 0; ; i++) {
  const message = await store.messages.append(room, 'writer', `m${i}`);
  process.stdout.write(`${message.id}\n`);
  // A macrotask turn lets stdout flush; a bare `await` loop would starve the event loop.
  await new Promise((resolve) => setImmediate(resolve));
}
