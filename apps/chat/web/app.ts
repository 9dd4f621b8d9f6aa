/**
 * The chat page, the bundle's entry: the official `phoenix` client (Socket, Channel, Presence), no
 * framework. This file starts the page and wires the controls to the modules that do the work:
 *
 * - `view.ts` draws into the DOM (with `scroll-pin.ts` keeping the list on the newest message);
 * - `message-state.ts` holds the open room's messages by id;
 * - `api.ts` makes the HTTP calls and keeps this browser's token;
 * - `room-lifecycle.ts` joins, rejoins, recovers and leaves the open room, with its presence;
 * - `unread.ts` keeps every room's unread count (the tab title's total);
 * - `compose.ts` sends and shows typing notices and completes `@` mentions;
 * - `notify.ts` asks for and shows notifications of mentions.
 *
 * Layout: on a narrow screen the conversation fills the page and the rooms and people open in a
 * drawer from the header; the name lives in a profile dialog on every size. The page's height
 * follows the visual viewport, so the input stays above a phone's on-screen keyboard.
 *
 * Addresses: `/` opens the lobby, `/?room=<id>` a private room (what the address bar shows while
 * it is open), `/?invite=<token>` accepts an invite link and opens its room.
 */
import { Socket } from 'phoenix';
import type { WireMessage } from '../src/room-channel.ts';
import { ChatApi, type RoomInfo } from './api.ts';
import { offerMentions, TypingIndicator, TypingThrottle } from './compose.ts';
import { askOnce, notifyMention } from './notify.ts';
import { LOBBY, RoomLifecycle } from './room-lifecycle.ts';
import { UNREAD_POLL_MS, UnreadCounts } from './unread.ts';
import * as view from './view.ts';
import { ui } from './view.ts';

const NAME_KEY = 'starling:name';

/** `text` (ASCII) as lowercase hex: see the socket's `authToken` below. */
function hexOf(text: string): string {
  return Array.from(text, (char) => char.charCodeAt(0).toString(16).padStart(2, '0')).join('');
}

const state = {
  name: localStorage.getItem(NAME_KEY) ?? `guest-${Math.random().toString(36).slice(2, 6)}`,
  /** The invite shown in the sidebar, which its creator may revoke. */
  inviteId: null as string | null,
  rooms: [LOBBY] as RoomInfo[],
  wasOnline: false,
  /** The message being edited in the input, or null when the input writes a new one. */
  editing: null as number | null,
  /** The people of the open room who may be mentioned (`name#mark`). */
  people: [] as readonly string[],
  /** The newest message shown in the open room, and the last read position sent for it. */
  lastShown: undefined as number | undefined,
  lastReadSent: new Map<string, number>(),
};

/** How long the page waits before telling the server how far the reader got (a burst of messages is one update). */
const READ_DEBOUNCE_MS = 1000;

const api = new ChatApi();

// Behind a proxy or network that blocks WebSockets, fall back to the server's LongPoll transport
// (phoenix.js remembers the choice for the browser session). The token travels as phoenix.js's
// `authToken` — in `Sec-WebSocket-Protocol`, or LongPoll's `X-Phoenix-AuthToken` header — never in
// the URL, where proxies log it. Hex-encoded: phoenix.js puts btoa(token) in the subprotocol,
// where a `/` (which btoa of a token's own alphabet can yield) is not allowed; btoa of hex never
// yields one.
const socket = new Socket('/socket', { authToken: () => (api.identity ? hexOf(api.identity.token) : ''), longPollFallbackMs: 2500 });
socket.onOpen(() => {
  state.wasOnline = true;
  view.setStatus('online');
});
socket.onError(() => view.setStatus(state.wasOnline ? 'reconnecting' : 'connecting'));
socket.onClose(() => view.setStatus(state.wasOnline ? 'reconnecting' : 'connecting'));

const myLabel = (): string | null => (api.identity === null ? null : `${state.name}#${api.identity.mark}`);
const reading = (): boolean => document.visibilityState === 'visible';
const typingNow = new TypingIndicator();
const typingThrottle = new TypingThrottle();
const unread = new UnreadCounts(api, renderRooms);

function renderRooms(): void {
  view.renderRooms(state.rooms, room.room.id, unread.counts, (chosen) => {
    openRoom(chosen);
    // Chosen from the drawer on a phone: the conversation comes back.
    view.setDrawerOpen(false);
  });
  view.showUnreadTotal(unread.total());
}

let readTimer: ReturnType<typeof setTimeout> | undefined;

/** Tells the server now how far the reader got in the open room, if further than last told. */
function flushRead(): void {
  clearTimeout(readTimer);
  readTimer = undefined;
  const id = state.lastShown;
  const open = room.room.id;
  if (id === undefined || !reading() || id <= (state.lastReadSent.get(open) ?? 0)) return;
  state.lastReadSent.set(open, id);
  room.markRead(id);
}

/** Tells the server, shortly, that the reader has seen the open room up to its newest message. */
function markRead(): void {
  clearTimeout(readTimer);
  readTimer = setTimeout(flushRead, READ_DEBOUNCE_MS);
  if (reading()) unread.read(room.room.id);
}

function startEditing(message: WireMessage): void {
  state.editing = message.id;
  ui.messageInput.value = message.body;
  ui.messageInput.focus();
  view.showEditing(true);
}

function stopEditing(): void {
  if (state.editing === null) return;
  state.editing = null;
  ui.messageInput.value = '';
  view.showEditing(false);
}

const room = new RoomLifecycle(socket, api, () => state.name, {
  view: () => ({ myMark: api.identity?.mark ?? null, onEdit: startEditing, onDelete: (message) => room.remove(message.id) }),
  onNewMessage(opened, message) {
    typingNow.clear(message.author);
    const mark = api.identity?.mark;
    const mentionsMe = mark !== undefined && message.mentions?.includes(mark) === true;
    if (mentionsMe) notifyMention(message.author, opened.name, message.body, message.id);
    if (!reading() && !message.author.endsWith(`#${mark ?? ''}`)) unread.arrived(opened.id, mentionsMe);
  },
  onTyping: (user) => typingNow.show(user),
  onShown(_opened, lastId) {
    state.lastShown = lastId;
    markRead();
  },
  onPeople(labels) {
    state.people = labels;
  },
});

function openRoom(next: RoomInfo): void {
  // Before leaving: a room read for less than the debounce counts as read too.
  if (readTimer !== undefined) flushRead();
  if (next.id !== room.room.id) {
    typingNow.reset();
    stopEditing();
    state.lastShown = undefined;
  }
  room.open(next);
  unread.read(next.id);
  renderRooms();
}

async function refreshUnread(): Promise<void> {
  await unread.refresh(room.room.id, reading()).catch(() => undefined);
}

function renderYou(): void {
  view.renderYou(state.name, api.identity?.mark ?? null);
  room.render();
}

ui.older.addEventListener('click', () => room.loadOlder());

ui.messageForm.addEventListener('submit', (event) => {
  event.preventDefault();
  // A user gesture: the one moment a page may ask to notify.
  askOnce();
  const body = ui.messageInput.value.trim();
  if (body === '') return;
  if (state.editing !== null) {
    room.edit(state.editing, body);
    stopEditing();
    return;
  }
  if (!room.send(body)) return;
  ui.messageInput.value = '';
  typingThrottle.reset();
  view.renderMentionChoices([], () => undefined);
});

ui.messageInput.addEventListener('input', () => {
  offerMentions(ui.messageInput, state.people, myLabel());
  if (ui.messageInput.value.trim() !== '' && state.editing === null && typingThrottle.take()) room.typing();
});

ui.messageInput.addEventListener('keydown', (event) => {
  if (event.key === 'Escape') {
    stopEditing();
    view.renderMentionChoices([], () => undefined);
  }
  // Enter with people offered picks the first, as completion lists do.
  const first = ui.mentionList.querySelector('button');
  if (event.key === 'Enter' && !ui.mentionList.hidden && first !== null) {
    event.preventDefault();
    first.click();
  }
});

ui.cancelEdit.addEventListener('click', stopEditing);

ui.drawerToggle.addEventListener('click', () => view.setDrawerOpen(ui.drawerToggle.getAttribute('aria-expanded') !== 'true'));
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && ui.drawerToggle.getAttribute('aria-expanded') === 'true') {
    view.setDrawerOpen(false);
    ui.drawerToggle.focus();
  }
});

ui.profileButton.addEventListener('click', () => {
  ui.nameInput.value = state.name;
  ui.profileDialog.showModal();
});
ui.profileClose.addEventListener('click', () => ui.profileDialog.close());
ui.notify.addEventListener('click', () => askOnce(true));

// The page is as high as the visual viewport: when a phone's keyboard opens, the input moves up
// above it instead of being covered (dvh alone does not shrink for the keyboard).
function fitViewport(): void {
  if (window.visualViewport) document.documentElement.style.setProperty('--app-height', `${window.visualViewport.height}px`);
}
window.visualViewport?.addEventListener('resize', fitViewport);
fitViewport();

document.addEventListener('visibilitychange', () => {
  if (!reading()) return;
  markRead();
  void refreshUnread();
});

// The server refuses a name with control or format characters (bidi overrides, zero-width
// characters: see `text.ts`); saying so here keeps the page from rejoining with it forever.
const INVISIBLE = /[\p{Cc}\p{Cf}]/u;
ui.nameInput.addEventListener('input', () => ui.nameInput.setCustomValidity(''));

ui.nameForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const name = ui.nameInput.value.trim();
  if (name === '' || name.length > 32) return;
  if (INVISIBLE.test(name)) {
    ui.nameInput.setCustomValidity('A name cannot contain invisible formatting characters such as a right-to-left override.');
    ui.nameInput.reportValidity();
    return;
  }
  state.name = name;
  localStorage.setItem(NAME_KEY, name);
  ui.profileDialog.close();
  renderYou();
  openRoom(room.room); // rejoin so that presence shows the new name
});

ui.newRoom.addEventListener('click', () => {
  api.createRoom(`${state.name}'s room`).then(
    ({ room: created, invite, inviteId }) => {
      state.rooms.push(created);
      state.inviteId = inviteId;
      view.showInvite(invite);
      openRoom(created);
    },
    (err: unknown) => view.showRoomError(`No room created: ${(err as Error).message}`, 'other'),
  );
});

ui.revokeInvite.addEventListener('click', () => {
  const inviteId = state.inviteId;
  if (inviteId === null) return;
  api.revokeInvite(inviteId).then(
    () => {
      state.inviteId = null;
      view.showInviteRevoked();
    },
    (err: unknown) => view.showRoomError(`Link not revoked: ${(err as Error).message}`, 'other'),
  );
});

// Ends every session of this user (a token left on another device); this page gets a new token.
// The server closes this page's socket too, which reconnects with the new token.
ui.signOutOthers.addEventListener('click', () => {
  api.revokeOtherSessions().then(renderYou, (err: unknown) => view.showRoomError(`Not signed out: ${(err as Error).message}`, 'other'));
});

/**
 * Runs `call` until it succeeds, waiting 1 s, then twice as long each time up to 15 s: the server
 * may be restarting, or its database down (503), and the page must come up by itself once it is
 * back rather than stay at "connecting".
 */
async function retrying<T>(call: () => Promise<T>): Promise<T> {
  for (let waitMs = 1000; ; waitMs = Math.min(waitMs * 2, 15_000)) {
    try {
      return await call();
    } catch {
      view.setStatus('connecting');
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  }
}

async function main(): Promise<void> {
  ui.nameInput.value = state.name;
  await retrying(() => api.identify());
  renderYou();
  const query = new URLSearchParams(location.search);
  const invite = query.get('invite');
  const linked = query.get('room');
  let start = linked === null || linked === LOBBY.id ? LOBBY : { id: linked, name: 'private room' };
  let inviteError: string | null = null;
  if (invite !== null) {
    try {
      start = await api.acceptInvite(invite);
    } catch (err) {
      inviteError = `Invite not accepted: ${(err as Error).message}`;
    }
  }
  state.rooms = [LOBBY, ...(await retrying(() => api.rooms()))];
  // A room link of a room this user is not in is still tried: the join answers "unauthorized" and the page says so.
  if (start !== LOBBY && !state.rooms.some((known) => known.id === start.id)) state.rooms.push(start);
  socket.connect();
  openRoom(state.rooms.find((known) => known.id === start.id) ?? LOBBY);
  // After openRoom, which clears the previous room's error.
  if (inviteError !== null) view.showRoomError(inviteError, 'other');
  await refreshUnread();
  setInterval(() => void refreshUnread(), UNREAD_POLL_MS);
}

void main();
