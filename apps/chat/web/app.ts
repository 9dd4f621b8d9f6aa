/**
 * The chat page: the official `phoenix` client (Socket, Channel, Presence), no framework. Every
 * user-supplied string is rendered with textContent, never as HTML.
 *
 * People are shown as `name#mark`: the name they chose and a mark the server derives from their
 * user id, so two people may share a name but no one can pass for someone else. The mark is shown
 * in an element of its own (`person`), so a `#` typed into a name never passes for one.
 *
 * Addresses: `/` opens the lobby, `/?room=<id>` a private room (what the address bar shows while
 * it is open), `/?invite=<token>` accepts an invite link and opens its room.
 *
 * Reconnects: a room's channel remembers the position of the last publication it saw
 * (`recoverableChannel`) and rejoins with it, so the server replays exactly what was missed and no
 * history is reloaded; only when the server cannot (`recovered: false`: away too long, or it
 * restarted) does the page ask for the latest page again. Messages are kept by id, so a message
 * is never shown twice, whichever way it arrives.
 */
import { Presence, Socket, type Channel, type PresenceEntry } from 'phoenix';
import { recoverableChannel, typedChannel, type StreamNotice } from 'starling-channels/client';
import type { HistoryPage, JoinReply, RoomEvents, WireMessage } from '../src/room-channel.ts';

/** A message as the room channel sends it. */
type ChatMessage = WireMessage;

interface RoomInfo {
  id: string;
  name: string;
}

interface Identity {
  userId: string;
  token: string;
  /** What follows `#` after this user's name everywhere. */
  mark: string;
}

const LOBBY: RoomInfo = { id: 'lobby', name: 'lobby' };
const NAME_KEY = 'starling:name';
const TOKEN_KEY = 'starling:token';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} missing`);
  return found as T;
}

const ui = {
  status: element<HTMLParagraphElement>('status'),
  nameForm: element<HTMLFormElement>('name-form'),
  nameInput: element<HTMLInputElement>('name-input'),
  you: element<HTMLParagraphElement>('you'),
  rooms: element<HTMLUListElement>('rooms'),
  newRoom: element<HTMLButtonElement>('new-room'),
  invite: element<HTMLDivElement>('invite'),
  inviteLink: element<HTMLInputElement>('invite-link'),
  revokeInvite: element<HTMLButtonElement>('revoke-invite'),
  signOutOthers: element<HTMLButtonElement>('sign-out-others'),
  online: element<HTMLUListElement>('online'),
  membersSection: element<HTMLElement>('members-section'),
  members: element<HTMLUListElement>('members'),
  roomTitle: element<HTMLHeadingElement>('room-title'),
  roomError: element<HTMLParagraphElement>('room-error'),
  older: element<HTMLButtonElement>('older'),
  messages: element<HTMLOListElement>('messages'),
  messageForm: element<HTMLFormElement>('message-form'),
  messageInput: element<HTMLInputElement>('message-input'),
};

const state = {
  name: localStorage.getItem(NAME_KEY) ?? `guest-${Math.random().toString(36).slice(2, 6)}`,
  identity: null as Identity | null,
  /** The invite shown in the sidebar, which its creator may revoke. */
  inviteId: null as string | null,
  rooms: [LOBBY] as RoomInfo[],
  room: LOBBY,
  channel: null as Channel | null,
  messages: new Map<number, ChatMessage>(),
  wasOnline: false,
  /** Whether the message list follows the newest message: true unless the reader scrolled up. */
  pinned: true,
};

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (state.identity) headers.authorization = `Bearer ${state.identity.token}`;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 204) return undefined as T;
  const json = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
  return json;
}

/** Gets (or renews) this browser's signed user token. */
async function identify(): Promise<Identity> {
  const identity = await api<Identity>('POST', '/api/identity', { token: localStorage.getItem(TOKEN_KEY) });
  localStorage.setItem(TOKEN_KEY, identity.token);
  return identity;
}

function setStatus(value: 'connecting' | 'online' | 'reconnecting'): void {
  ui.status.dataset.state = value;
  ui.status.textContent = value;
}

/**
 * Shows `text` in the room's error line until another room is opened. A join error also goes away
 * when a later rejoin succeeds; others (a refused invite, an unsent message) stay.
 */
function showRoomError(text: string, kind: 'join' | 'other'): void {
  ui.roomError.textContent = text;
  ui.roomError.dataset.kind = kind;
  ui.roomError.hidden = false;
}

/**
 * `label` (`name#mark`, as the server sends it) as the chosen name and the mark, each in an element
 * of its own. The mark is what follows the last `#` (a mark never contains one, a name may): it is
 * drawn as a badge that no typed text can look like, so `alice#Xk3f9a` typed as a name shows as a
 * name ending in `#Xk3f9a`, followed by its author's real mark. The name is bidi-isolated (`bdi`),
 * so no character in it can move or reverse the mark. The text stays `name#mark` (copy, search);
 * a screen reader hears the mark announced as such (see `app.css`).
 */
function person(label: string, className: string): HTMLSpanElement {
  const hash = label.lastIndexOf('#');
  const outer = document.createElement('span');
  outer.className = className;
  const name = document.createElement('bdi');
  name.className = 'name';
  name.textContent = hash < 0 ? label : label.slice(0, hash);
  outer.append(name);
  if (hash >= 0) {
    const mark = document.createElement('span');
    mark.className = 'mark';
    mark.title = 'Mark: set by the server for each person, so two people with the same name are told apart';
    mark.textContent = label.slice(hash);
    outer.append(mark);
  }
  return outer;
}

function renderYou(): void {
  ui.you.replaceChildren('You appear as ', person(`${state.name}#${state.identity?.mark ?? '…'}`, 'person'));
}

function renderRooms(): void {
  ui.rooms.replaceChildren(
    ...state.rooms.map((room) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `# ${room.name}`;
      button.dataset.room = room.id;
      if (room.id === state.room.id) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => openRoom(room));
      item.append(button);
      return item;
    }),
  );
}

function renderMessages(): void {
  const sorted = [...state.messages.values()].sort((a, b) => a.id - b.id);
  ui.messages.replaceChildren(
    ...sorted.map((message) => {
      const item = document.createElement('li');
      item.dataset.id = String(message.id);
      const time = document.createElement('time');
      time.dateTime = message.inserted_at;
      time.textContent = new Date(message.inserted_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      const author = person(message.author, 'author');
      const body = document.createElement('span');
      body.className = 'body';
      body.textContent = message.body;
      item.append(time, author, body);
      return item;
    }),
  );
  stickToBottom();
}

// Only the reader unpins the list. A scroll event also comes from layout (the list clamped while
// it was briefly taller, the online list filling in on a phone); such a move must not leave the
// newest message hidden, so a scroll shortly after wheel, touch or keys is the only one that unpins.
let readerScrolledAt = -Infinity;
for (const type of ['wheel', 'touchmove', 'keydown', 'pointerdown'] as const) {
  ui.messages.addEventListener(type, () => (readerScrolledAt = performance.now()), { passive: true });
}
const atBottom = (): boolean => ui.messages.scrollTop + ui.messages.clientHeight >= ui.messages.scrollHeight - 8;
function stickToBottom(): void {
  if (state.pinned) ui.messages.scrollTop = ui.messages.scrollHeight;
}
ui.messages.addEventListener('scroll', () => {
  if (atBottom()) state.pinned = true;
  else if (performance.now() - readerScrolledAt < 1000) state.pinned = false;
  else stickToBottom();
});
// The list also shrinks after a render (the "older" button appears, the online list grows on a
// phone): a pinned list stays on the newest message.
new ResizeObserver(stickToBottom).observe(ui.messages);

function addMessages(messages: ChatMessage[]): void {
  for (const message of messages) state.messages.set(message.id, message);
  renderMessages();
}

function firstId(): number | undefined {
  let first: number | undefined;
  for (const id of state.messages.keys()) if (first === undefined || id < first) first = id;
  return first;
}

function lastId(): number | undefined {
  let last: number | undefined;
  for (const id of state.messages.keys()) if (last === undefined || id > last) last = id;
  return last;
}

/**
 * Shows the latest page after a reconnect that could not resume. When it does not reach back to
 * what is shown (more than a page was missed), what is shown is dropped rather than shown with a
 * hole: "Load older messages" pages back from the new page.
 */
function addLatestPage(page: HistoryPage): void {
  const oldest = page.messages[0]?.id;
  const shown = lastId();
  if (page.more && oldest !== undefined && shown !== undefined && oldest > shown) {
    for (const id of [...state.messages.keys()]) if (id < oldest) state.messages.delete(id);
    ui.older.hidden = false;
  }
  addMessages(page.messages);
}

interface MemberInfo {
  userId: string;
  name: string;
  owner: boolean;
}

/**
 * Shows a private room's members; its owner gets a "Remove" button next to everyone else. Removed
 * members' sockets are closed by the server and they cannot re-join.
 */
async function renderMembers(room: RoomInfo): Promise<void> {
  if (room.id === LOBBY.id) {
    ui.membersSection.hidden = true;
    return;
  }
  const { members } = await api<{ members: MemberInfo[] }>('GET', `/api/rooms/${encodeURIComponent(room.id)}/members`);
  if (state.room.id !== room.id) return;
  const iOwn = members.some((member) => member.owner && member.userId === state.identity?.userId);
  ui.members.replaceChildren(
    ...members.map((member) => {
      const item = document.createElement('li');
      item.append(person(member.name, 'person'));
      if (member.owner) item.append(' (owner)');
      if (iOwn && !member.owner) {
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'quiet';
        remove.textContent = 'Remove';
        remove.dataset.user = member.userId;
        remove.addEventListener('click', () => {
          void api<undefined>('DELETE', `/api/rooms/${encodeURIComponent(room.id)}/members/${encodeURIComponent(member.userId)}`).then(
            () => renderMembers(room),
            (err: unknown) => showRoomError(`Not removed: ${(err as Error).message}`, 'other'),
          );
        });
        item.append(' ', remove);
      }
      return item;
    }),
  );
  ui.membersSection.hidden = false;
}

function renderOnline(presence: Presence): void {
  // Keyed by user id; the meta carries how the user is shown (the newest join's name).
  const names = presence
    .list((_userId: string, entry: PresenceEntry) => {
      const name = (entry.metas.at(-1) as { name?: unknown } | undefined)?.name;
      return typeof name === 'string' ? name : '?';
    })
    .sort((a: string, b: string) => a.localeCompare(b));
  ui.online.replaceChildren(
    ...names.map((name: string) => {
      const item = document.createElement('li');
      item.append(person(name, 'person'));
      return item;
    }),
  );
}

// Behind a proxy or network that blocks WebSockets, fall back to the server's LongPoll transport
// (phoenix.js remembers the choice for the browser session).
const socket = new Socket('/socket', { params: () => (state.identity ? { token: state.identity.token } : {}), longPollFallbackMs: 2500 });
socket.onOpen(() => {
  state.wasOnline = true;
  setStatus('online');
});
socket.onError(() => setStatus(state.wasOnline ? 'reconnecting' : 'connecting'));
socket.onClose(() => setStatus(state.wasOnline ? 'reconnecting' : 'connecting'));

function openRoom(room: RoomInfo): void {
  state.channel?.leave();
  // Rejoining the same room (a new name) keeps what is shown; the join reply merges by id.
  if (room.id !== state.room.id || state.channel === null) {
    state.messages.clear();
    state.pinned = true;
    renderMessages();
  }
  state.room = room;
  renderRooms();
  ui.roomTitle.textContent = `# ${room.name}`;
  ui.roomError.hidden = true;
  // The address names the open room (never the invite, which is spent): a reload comes back here
  // and the link can be shared with members.
  history.replaceState(null, '', room.id === LOBBY.id ? '/' : `/?room=${encodeURIComponent(room.id)}`);
  ui.older.hidden = true;

  // The first join replies with the latest page. A rejoin (after a lost connection, over
  // WebSocket or LongPoll) sends the last position seen as `recover`: it is answered without a
  // page, and what was missed arrives as the usual new_msg pushes before phx_stream. Only when
  // that is impossible does the page reload the latest page. Messages merge by id either way.
  const reload = { needed: false };
  const { channel } = recoverableChannel(socket, `rooms:${room.id}`, {
    params: () => ({ name: state.name }),
    onStream: (notice: StreamNotice) => {
      // Until the page arrives every later phx_stream (a rejoin) asks again: the remembered
      // position has moved past the gap, so no replay will ever fill it.
      if (notice.recovered === false) reload.needed = true;
      if (reload.needed) reloadLatest(channel, reload);
    },
  });
  const presence = new Presence(channel);
  // A room left a moment ago may still answer (its join reply was on the way): only the open
  // room's channel may touch the page.
  const current = (): boolean => state.channel === channel;
  presence.onSync(() => {
    if (!current()) return;
    renderOnline(presence);
    // Someone came or went: the member list may have changed (an invite was used).
    renderMembers(room).catch(() => (ui.membersSection.hidden = true));
  });
  typedChannel<RoomEvents>(channel).on('new_msg', (message) => current() && addMessages([message]));
  channel
    .join()
    .receive('ok', (reply: JoinReply) => {
      if (!current()) return;
      if (ui.roomError.dataset.kind === 'join') ui.roomError.hidden = true;
      // A rejoin that resumes gets no page ({}): what is shown stays as it is.
      if (reply.messages === undefined) return;
      addMessages(reply.messages);
      ui.older.hidden = reply.more !== true;
    })
    .receive('error', (reply: { reason?: string }) => {
      if (!current()) return;
      showRoomError(
        reply.reason === 'unauthorized' ? 'You are not a member of this room: ask for an invite link.' : `Could not join: ${reply.reason ?? 'unknown error'}`,
        'join',
      );
      // A refused join would otherwise be retried by the client forever.
      if (reply.reason === 'unauthorized') channel.leave();
    });
  state.channel = channel;
  ui.online.replaceChildren();
  ui.membersSection.hidden = true;
}

/**
 * Asks for the latest page of the open room after a reconnect whose gap the server could not
 * replay; `reload.needed` stays set until it is shown (a failed request is asked again 5 s later).
 */
function reloadLatest(channel: Channel, reload: { needed: boolean }): void {
  if (state.channel !== channel) return;
  const retry = (): void => {
    setTimeout(() => reload.needed && reloadLatest(channel, reload), 5000);
  };
  typedChannel<RoomEvents>(channel)
    .push('history', {})
    .receive('ok', (page) => {
      if (state.channel !== channel) return;
      reload.needed = false;
      addLatestPage(page);
    })
    .receive('error', retry)
    .receive('timeout', retry);
}

ui.older.addEventListener('click', () => {
  const channel = state.channel;
  if (channel === null) return;
  typedChannel<RoomEvents>(channel)
    .push('history', { before: firstId() })
    .receive('ok', (reply) => {
      if (state.channel !== channel) return;
      addMessages(reply.messages);
      ui.older.hidden = reply.more !== true;
    })
    .receive('error', (reply) => showRoomError(`Not loaded: ${(reply as { reason?: string }).reason ?? 'error'}`, 'other'));
});

ui.messageForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const body = ui.messageInput.value.trim();
  if (body === '' || state.channel === null) return;
  typedChannel<RoomEvents>(state.channel)
    .push('new_msg', { body })
    .receive('error', (reply) => showRoomError(`Not sent: ${(reply as { reason?: string }).reason ?? 'error'}`, 'other'));
  // new_msg has no reply: its broadcast, which carries the stored id, is the acknowledgement.
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
  openRoom(state.room); // rejoin so that presence shows the new name
});

ui.newRoom.addEventListener('click', () => {
  void api<{ room: RoomInfo; invite: string; inviteId: string }>('POST', '/api/rooms', { name: `${state.name}'s room` }).then(
    ({ room, invite, inviteId }) => {
      state.rooms.push(room);
      state.inviteId = inviteId;
      ui.inviteLink.value = invite;
      ui.revokeInvite.disabled = false;
      ui.revokeInvite.textContent = 'Revoke link';
      ui.invite.hidden = false;
      openRoom(room);
    },
    (err: unknown) => showRoomError(`No room created: ${(err as Error).message}`, 'other'),
  );
});

ui.revokeInvite.addEventListener('click', () => {
  const inviteId = state.inviteId;
  if (inviteId === null) return;
  void api<undefined>('DELETE', `/api/invites/${encodeURIComponent(inviteId)}`).then(
    () => {
      state.inviteId = null;
      ui.inviteLink.value = '';
      ui.revokeInvite.disabled = true;
      ui.revokeInvite.textContent = 'Link revoked';
    },
    (err: unknown) => showRoomError(`Link not revoked: ${(err as Error).message}`, 'other'),
  );
});

// Ends every session of this user (a token left on another device); this page gets a new token.
// The server closes this page's socket too, which reconnects with the new token.
ui.signOutOthers.addEventListener('click', () => {
  void api<Identity>('POST', '/api/identity/revoke').then(
    (identity) => {
      state.identity = identity;
      localStorage.setItem(TOKEN_KEY, identity.token);
      renderYou();
    },
    (err: unknown) => showRoomError(`Not signed out: ${(err as Error).message}`, 'other'),
  );
});

async function main(): Promise<void> {
  ui.nameInput.value = state.name;
  state.identity = await identify();
  renderYou();
  const query = new URLSearchParams(location.search);
  const invite = query.get('invite');
  const linked = query.get('room');
  let start = linked === null || linked === LOBBY.id ? LOBBY : { id: linked, name: 'private room' };
  let inviteError: string | null = null;
  if (invite !== null) {
    try {
      const { room } = await api<{ room: RoomInfo }>('POST', '/api/invites/accept', { invite });
      start = room;
    } catch (err) {
      inviteError = `Invite not accepted: ${(err as Error).message}`;
    }
  }
  const rooms: RoomInfo[] = [];
  for (let after: string | null = null, first = true; first || after !== null; first = false) {
    const page: { rooms: RoomInfo[]; next: string | null } = await api('GET', `/api/rooms${after === null ? '' : `?after=${encodeURIComponent(after)}`}`);
    rooms.push(...page.rooms);
    after = page.next;
  }
  state.rooms = [LOBBY, ...rooms];
  // A room link of a room this user is not in is still tried: the join answers "unauthorized" and the page says so.
  if (start !== LOBBY && !state.rooms.some((room) => room.id === start.id)) state.rooms.push(start);
  socket.connect();
  openRoom(state.rooms.find((room) => room.id === start.id) ?? LOBBY);
  // After openRoom, which clears the previous room's error.
  if (inviteError !== null) showRoomError(inviteError, 'other');
}

void main();
