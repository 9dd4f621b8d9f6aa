/**
 * Runs the ChatStore conformance suite on SqliteChatStore with a real file in a fresh
 * temporary directory per test, plus what only SQLite has: creating the file and its directory,
 * the WAL journal, and durability when the writing process is SIGKILLed.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteChatStore, StoreError, StoreErrorCodes, type ChatStore, type MessageStore, type StoredMessage } from '../../src/store/index.ts';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/sqlite-chat-store.ts';
import { chatStoreSuite } from './chat-store.suite.ts';

const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const WRITER = fileURLToPath(new URL('../support/sqlite-writer.ts', import.meta.url));

/** Temporary directories made by the current test, removed after it. */
let dirs: string[] = [];
let stores: ChatStore[] = [];

async function freshDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'starling-sqlite-'));
  dirs.push(dir);
  return dir;
}

function open(file: string): SqliteChatStore {
  const store = SqliteChatStore.open(file);
  stores.push(store);
  return store;
}

async function cleanup(): Promise<void> {
  await Promise.all(stores.map((store) => store.close()));
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
  stores = [];
  dirs = [];
}

let file: string | undefined;

chatStoreSuite('SQLite', {
  async open() {
    file ??= join(await freshDir(), 'chat.sqlite3');
    return open(file);
  },
  async cleanup() {
    file = undefined;
    await cleanup();
  },
});

/** Every message of `room`, paging backwards through history. */
async function everything(store: MessageStore, room: string): Promise<StoredMessage[]> {
  const all: StoredMessage[] = [];
  for (let page = await store.history(room, { limit: 200 }); page.length > 0;) {
    all.unshift(...page);
    page = await store.history(room, { limit: 200, before: page[0]!.id });
  }
  return all;
}

describe('SqliteChatStore migrations', () => {
  afterEach(cleanup);

  it('upgrades a database made before migrations existed, keeping its data, and records each version once', async () => {
    const file = join(await freshDir(), 'chat.sqlite3');
    // What the chat of the previous release left: its tables (migration 1's SQL) and no migrations table.
    const old = new Database(file);
    old.exec(SQLITE_MIGRATIONS[0]!.sql(''));
    old.prepare('INSERT INTO messages (room, author, body, inserted_at) VALUES (?, ?, ?, ?)').run('lobby', 'alice', 'from before', new Date().toISOString());
    old.close();

    const store = open(file);
    expect((await store.messages.history('lobby')).map((message) => message.body)).toEqual(['from before']);
    await store.close();
    open(file); // again: nothing more to apply
    const db = new Database(file, { readonly: true });
    expect(db.prepare('SELECT version, name FROM schema_migrations').all()).toEqual(SQLITE_MIGRATIONS.map(({ version, name }) => ({ version, name })));
    db.close();
  });

  it('refuses a database whose schema is newer than this chat knows', async () => {
    const file = join(await freshDir(), 'chat.sqlite3');
    await open(file).close();
    const db = new Database(file);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, ?, ?)').run('from the future', new Date().toISOString());
    db.close();
    expect(() => open(file)).toThrow(`schema is at version 99, newer than this chat's (${SQLITE_MIGRATIONS.at(-1)!.version})`);
  });
});

describe('SqliteChatStore', () => {
  afterEach(cleanup);

  it('creates the file and its missing directories on first open', async () => {
    const nested = join(await freshDir(), 'data', 'chat', 'store.sqlite3');
    expect(existsSync(nested)).toBe(false);
    const store = open(nested);
    await store.messages.append('lobby', 'alice', 'first');
    expect(existsSync(nested)).toBe(true);
  });

  it('journals with WAL, which persists in the file', async () => {
    const path = join(await freshDir(), 'chat.sqlite3');
    await open(path).close();
    const inspector = new Database(path, { readonly: true });
    try {
      expect(inspector.pragma('journal_mode', { simple: true })).toBe('wal');
    } finally {
      inspector.close();
    }
  });

  it('adds the columns of edits, deletes and mentions to a file made before them, keeping its messages', async () => {
    const path = join(await freshDir(), 'chat.sqlite3');
    const old = new Database(path);
    old.exec(
      'CREATE TABLE messages (id INTEGER PRIMARY KEY AUTOINCREMENT, room TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL, inserted_at TEXT NOT NULL)',
    );
    old
      .prepare('INSERT INTO messages (room, author, body, inserted_at) VALUES (?, ?, ?, ?)')
      .run('lobby', 'alice#abcdef', 'from before', '2025-01-01T00:00:00.000Z');
    old.close();

    const store = open(path);
    const [kept] = await store.messages.history('lobby');
    expect(kept).toEqual({
      id: 1,
      room: 'lobby',
      author: 'alice#abcdef',
      body: 'from before',
      insertedAt: '2025-01-01T00:00:00.000Z',
      authorId: null,
      editedAt: null,
      deleted: false,
      mentions: [],
    });
    const mine = await store.messages.append('lobby', 'bob#abcdef', 'new', { authorId: 'bob' });
    expect(await store.messages.edit('lobby', mine.id, 'bob', 'edited')).toMatchObject({ body: 'edited' });
  });

  it('throws a StoreError, not a driver error, when the file cannot be created', async () => {
    const blocker = join(await freshDir(), 'not-a-directory');
    await writeFile(blocker, '');
    let thrown: unknown;
    try {
      open(join(blocker, 'chat.sqlite3'));
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(StoreError);
    expect(thrown).toMatchObject({ code: StoreErrorCodes.failed });
  });

  it('keeps every message whose append resolved when the writing process is SIGKILLed', async () => {
    const path = join(await freshDir(), 'chat.sqlite3');
    const writer = spawn(process.execPath, ['--import', 'tsx', WRITER, path, 'lobby'], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = once(writer, 'exit');
    let stderr = '';
    writer.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const printed: number[] = [];
    let partial = '';
    writer.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      printed.push(...lines.map(Number));
      // Killed the moment a resolved append has been reported, while it keeps appending.
      if (printed.length >= 20) writer.kill('SIGKILL');
    });
    const [code, signal] = await exited;
    expect({ code, signal, stderr }).toEqual({ code: null, signal: 'SIGKILL', stderr: '' });
    expect(printed.length).toBeGreaterThanOrEqual(20);

    const stored = idsOf(await everything(open(path).messages, 'lobby'));
    expect(stored).toEqual(expect.arrayContaining(printed));
    expect(stored.slice(0, printed.length)).toEqual(printed);
  });
});

const idsOf = (messages: StoredMessage[]): number[] => messages.map((m) => m.id);
