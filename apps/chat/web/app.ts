/**
 * The chat page, the bundle's entry: the official `phoenix` client (Socket, Channel, Presence), no
 * framework. This file starts the page and wires the controls to the modules that do the work:
 *
 * - `view.ts` draws into the DOM (with `scroll-pin.ts` keeping the list on the newest message);
 * - `message-state.ts` holds the open room's messages by id;
 * - `api.ts` makes the HTTP calls and keeps this browser's token;
 * - `room-lifecycle.ts` joins, rejoins, recovers and leaves the open room, with its presence.
 *
 * Addresses: `/` opens the lobby, `/?room=<id>` a private room (what the address bar shows while
 * it is open), `/?invite=<token>` accepts an invite link and opens its room.
 */
import { Socket } from 'phoenix';
import { ChatApi, type RoomInfo } from './api.ts';
import { LOBBY, RoomLifecycle } from './room-lifecycle.ts';
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
};

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

const room = new RoomLifecycle(socket, api, () => state.name);

function openRoom(next: RoomInfo): void {
  room.open(next);
  view.renderRooms(state.rooms, room.room.id, openRoom);
}

function renderYou(): void {
  view.renderYou(state.name, api.identity?.mark ?? null);
}

ui.older.addEventListener('click', () => room.loadOlder());

ui.messageForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const body = ui.messageInput.value.trim();
  if (body === '' || !room.send(body)) return;
  ui.messageInput.value = '';
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

async function main(): Promise<void> {
  ui.nameInput.value = state.name;
  await api.identify();
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
  state.rooms = [LOBBY, ...(await api.rooms())];
  // A room link of a room this user is not in is still tried: the join answers "unauthorized" and the page says so.
  if (start !== LOBBY && !state.rooms.some((known) => known.id === start.id)) state.rooms.push(start);
  socket.connect();
  openRoom(state.rooms.find((known) => known.id === start.id) ?? LOBBY);
  // After openRoom, which clears the previous room's error.
  if (inviteError !== null) view.showRoomError(inviteError, 'other');
}

void main();
