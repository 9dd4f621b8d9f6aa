/**
 * @module view
 * The page's DOM: the elements of `index.html` and the functions that draw into them. It holds no
 * state and makes no calls; what to draw is passed in, and what a click should do is passed as a
 * callback. Every user-supplied string is rendered with textContent, never as HTML.
 *
 * People are shown as `name#mark`: the name they chose and a mark the server derives from their
 * user id, so two people may share a name but no one can pass for someone else. The mark is shown
 * in an element of its own (see {@link person}), so a `#` typed into a name never passes for one.
 *
 * Message text is drawn as text nodes too: a link (`http:` or `https:` only) becomes an `<a>`
 * with `rel="noopener noreferrer"` whose href is the URL parser's, and a mention `@name#mark` of
 * someone the server resolved becomes a highlighted span — no markup from a message ever reaches
 * the DOM as markup.
 */
import type { MemberInfo, RoomInfo } from './api.ts';
import type { ChatMessage } from './message-state.ts';
import { ScrollPin } from './scroll-pin.ts';

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`#${id} missing`);
  return found as T;
}

/** The page's elements, by role. */
export const ui = {
  status: element<HTMLParagraphElement>('status'),
  drawerToggle: element<HTMLButtonElement>('drawer-toggle'),
  drawerUnread: element<HTMLSpanElement>('drawer-unread'),
  sidebar: element<HTMLElement>('sidebar'),
  profileButton: element<HTMLButtonElement>('profile-button'),
  profileDialog: element<HTMLDialogElement>('profile-dialog'),
  profileClose: element<HTMLButtonElement>('profile-close'),
  notify: element<HTMLButtonElement>('notify'),
  typing: element<HTMLParagraphElement>('typing'),
  mentionList: element<HTMLUListElement>('mention-list'),
  editing: element<HTMLParagraphElement>('editing'),
  cancelEdit: element<HTMLButtonElement>('cancel-edit'),
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

const pin = new ScrollPin(ui.messages);

/** Shows the socket's state in the header badge. */
export function setStatus(value: 'connecting' | 'online' | 'reconnecting'): void {
  ui.status.dataset.state = value;
  ui.status.textContent = value;
}

/**
 * Shows `text` in the room's error line until another room is opened. A join error also goes away
 * when a later rejoin succeeds ({@link hideJoinError}); others (a refused invite, an unsent
 * message) stay.
 */
export function showRoomError(text: string, kind: 'join' | 'send' | 'other'): void {
  ui.roomError.textContent = text;
  ui.roomError.dataset.kind = kind;
  ui.roomError.hidden = false;
}

/** Hides the room's error line if it shows a join error. */
export function hideJoinError(): void {
  if (ui.roomError.dataset.kind === 'join') ui.roomError.hidden = true;
}

/** Hides the room's error line if it is about sending: a later send went through, or the room is back. */
export function hideSendError(): void {
  if (ui.roomError.dataset.kind === 'send') ui.roomError.hidden = true;
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

/** Shows how this user appears to others; `mark` is null until the server has said. */
export function renderYou(name: string, mark: string | null): void {
  ui.you.replaceChildren('You appear as ', person(`${name}#${mark ?? '…'}`, 'person'));
}

/** A room's unread messages, and how many of them mention the viewer. */
export interface Unread {
  count: number;
  mentions: number;
}

/** A count as shown in a badge: the store stops counting at 100. */
const shownCount = (count: number): string => (count >= 100 ? '99+' : String(count));

/**
 * Lists the rooms, marking the open one, each with its unread count and mentions (`@`) as badges;
 * a click on one calls `onOpen` with it.
 */
export function renderRooms(rooms: readonly RoomInfo[], openId: string, unread: ReadonlyMap<string, Unread>, onOpen: (room: RoomInfo) => void): void {
  ui.rooms.replaceChildren(
    ...rooms.map((room) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      const name = document.createElement('span');
      name.className = 'room-name';
      name.textContent = `# ${room.name}`;
      button.append(name);
      const state = unread.get(room.id);
      if (state !== undefined && state.mentions > 0) button.append(badge('mentions', `@${shownCount(state.mentions)}`, `${state.mentions} mentioning you`));
      if (state !== undefined && state.count > 0) button.append(badge('unread', shownCount(state.count), `${state.count} unread`));
      button.dataset.room = room.id;
      if (room.id === openId) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => onOpen(room));
      item.append(button);
      return item;
    }),
  );
}

function badge(className: string, text: string, label: string): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = className;
  const shown = document.createElement('span');
  shown.setAttribute('aria-hidden', 'true');
  shown.textContent = text;
  const spoken = document.createElement('span');
  spoken.className = 'visually-hidden';
  spoken.textContent = `, ${label}`;
  span.append(shown, spoken);
  return span;
}

/** Shows the total of unread messages in the tab's title (`(3) Starling chat`) and on the drawer button. */
export function showUnreadTotal(total: number): void {
  document.title = total > 0 ? `(${shownCount(total)}) Starling chat` : 'Starling chat';
  ui.drawerUnread.textContent = total > 0 ? ` ${shownCount(total)}` : '';
  ui.drawerUnread.hidden = total === 0;
}

/** Shows `room` as the open one: its title, with no error and no "older" button yet. */
export function showRoom(room: RoomInfo): void {
  ui.roomTitle.textContent = `# ${room.name}`;
  ui.roomError.hidden = true;
  ui.older.hidden = true;
}

/** Empties the lists of the people of the previous room, until the new one's arrive. */
export function clearPeople(): void {
  ui.online.replaceChildren();
  ui.membersSection.hidden = true;
}

/** How the viewer sees the messages: whose are theirs, where they stopped reading, what they may do. */
export interface MessageView {
  /** The viewer's mark: their messages get Edit and Delete, messages mentioning them are highlighted. */
  readonly myMark: string | null;
  /** The "new messages" divider goes before the first message after this id; null for none. */
  readonly readUpTo: number | null;
  readonly onEdit: (message: ChatMessage) => void;
  readonly onDelete: (message: ChatMessage) => void;
}

/** Consecutive messages of one author closer than this are grouped (the author is shown once). */
const GROUP_MS = 5 * 60_000;

const markOf = (label: string): string => label.slice(label.lastIndexOf('#') + 1);

/**
 * Shows the messages (oldest first), staying on the newest unless the reader scrolled up: a day
 * separator where the date changes, one author line per group of consecutive messages, the "new
 * messages" divider, "edited" and "message deleted", and Edit / Delete on the viewer's own.
 */
export function renderMessages(messages: readonly ChatMessage[], shown: MessageView): void {
  let previous: ChatMessage | undefined;
  let dividerShown = false;
  ui.messages.replaceChildren(
    ...messages.map((message) => {
      const item = document.createElement('li');
      item.dataset.id = String(message.id);
      const at = new Date(message.inserted_at);
      const day = at.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
      const newDay = previous === undefined || new Date(previous.inserted_at).toDateString() !== at.toDateString();
      if (newDay) item.append(separator('day', day));
      const mine = shown.myMark !== null && markOf(message.author) === shown.myMark;
      if (!dividerShown && shown.readUpTo !== null && message.id > shown.readUpTo && !mine) {
        dividerShown = true;
        item.append(separator('new-messages', 'New messages'));
      }
      const grouped = !newDay && previous?.author === message.author && at.getTime() - Date.parse(previous.inserted_at) < GROUP_MS;
      if (grouped) item.classList.add('continued');
      const time = document.createElement('time');
      time.dateTime = message.inserted_at;
      time.textContent = at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      const author = person(message.author, 'author');
      const body = document.createElement('span');
      body.className = 'body';
      item.append(time, author, body);
      if (message.deleted === true) {
        item.classList.add('deleted');
        body.textContent = 'message deleted';
      } else {
        body.append(...messageText(message));
        if (message.edited_at !== undefined) {
          const edited = document.createElement('span');
          edited.className = 'edited';
          edited.textContent = ' (edited)';
          item.append(edited);
        }
        if (shown.myMark !== null && message.mentions?.includes(shown.myMark) === true) item.classList.add('mentions-me');
        if (mine) item.append(actions(message, shown));
      }
      previous = message;
      return item;
    }),
  );
  pin.stick();
}

function separator(className: string, text: string): HTMLDivElement {
  const line = document.createElement('div');
  line.className = className;
  line.setAttribute('role', 'separator');
  line.textContent = text;
  return line;
}

function actions(message: ChatMessage, shown: MessageView): HTMLSpanElement {
  const span = document.createElement('span');
  span.className = 'actions';
  for (const [label, act] of [
    ['Edit', shown.onEdit],
    ['Delete', shown.onDelete],
  ] as const) {
    const button = document.createElement('button');
    button.type = 'button';
    button.className = `quiet ${label.toLowerCase()}`;
    button.textContent = label;
    button.setAttribute('aria-label', `${label} your message: ${message.body.slice(0, 40)}`);
    button.addEventListener('click', () => act(message));
    span.append(button);
  }
  return span;
}

// A URL (http or https) up to whitespace; trailing punctuation is left out, as chat clients do.
const LINK = /\bhttps?:\/\/[^\s<>"]+[^\s<>".,;:!?')\]]/giu;
const MENTION = /@[^@\n]{1,32}?#([A-Za-z0-9_-]{6})(?![A-Za-z0-9_-])/gu;

/** The body as nodes: text, links and the mentions the server resolved (`message.mentions`). */
function messageText(message: ChatMessage): Node[] {
  const mentioned = new Set(message.mentions ?? []);
  const found: Array<{ start: number; end: number; node: () => Node }> = [];
  for (const match of message.body.matchAll(LINK)) {
    let url: URL | null = null;
    try {
      url = new URL(match[0]);
    } catch {
      url = null;
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:')) continue;
    const href = url.href;
    found.push({
      start: match.index,
      end: match.index + match[0].length,
      node: () => {
        const link = document.createElement('a');
        link.href = href;
        link.rel = 'noopener noreferrer';
        link.target = '_blank';
        link.textContent = match[0];
        return link;
      },
    });
  }
  for (const match of message.body.matchAll(MENTION)) {
    if (!mentioned.has(match[1]!) || found.some((link) => match.index < link.end && link.start < match.index + match[0].length)) continue;
    found.push({
      start: match.index,
      end: match.index + match[0].length,
      node: () => {
        const span = document.createElement('span');
        span.className = 'mention';
        span.textContent = match[0];
        return span;
      },
    });
  }
  found.sort((a, b) => a.start - b.start);
  const nodes: Node[] = [];
  let at = 0;
  for (const part of found) {
    nodes.push(document.createTextNode(message.body.slice(at, part.start)), part.node());
    at = part.end;
  }
  nodes.push(document.createTextNode(message.body.slice(at)));
  return nodes;
}

/** Shows who is typing (`name#mark` labels) under the conversation, or nothing. */
export function renderTyping(labels: readonly string[]): void {
  if (labels.length === 0) {
    ui.typing.replaceChildren();
    return;
  }
  const people = labels
    .slice(0, 3)
    .flatMap((label, i) => (i === 0 ? [person(label, 'person')] : [i === labels.length - 1 ? ' and ' : ', ', person(label, 'person')]));
  ui.typing.replaceChildren(...people, labels.length === 1 ? ' is typing…' : ' are typing…');
}

/** Offers people to mention (`name#mark` labels); a click calls `onPick` with one. Empty hides the list. */
export function renderMentionChoices(labels: readonly string[], onPick: (label: string) => void): void {
  ui.mentionList.hidden = labels.length === 0;
  ui.mentionList.replaceChildren(
    ...labels.map((label) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'quiet';
      button.append('@', person(label, 'person'));
      button.addEventListener('click', () => onPick(label));
      item.append(button);
      return item;
    }),
  );
}

/** Shows or hides the "editing your message" line above the input. */
export function showEditing(editing: boolean): void {
  ui.editing.hidden = !editing;
}

/** Opens or closes the rooms-and-people drawer (a phone layout; on a wide screen it is always shown). */
export function setDrawerOpen(open: boolean): void {
  document.body.classList.toggle('drawer-open', open);
  ui.drawerToggle.setAttribute('aria-expanded', String(open));
}

/** Makes the message list follow the newest message again (another room is shown). */
export function pinMessages(): void {
  pin.reset();
}

/** Shows or hides "Load older messages". */
export function setOlderVisible(visible: boolean): void {
  ui.older.hidden = !visible;
}

/**
 * Shows a private room's members. When `removable` (the viewer owns the room), everyone but the
 * owner gets a "Remove" button that calls `onRemove` with them.
 */
export function renderMembers(members: readonly MemberInfo[], removable: boolean, onRemove: (member: MemberInfo) => void): void {
  ui.members.replaceChildren(
    ...members.map((member) => {
      const item = document.createElement('li');
      item.append(person(member.name, 'person'));
      if (member.owner) item.append(' (owner)');
      if (removable && !member.owner) {
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'quiet';
        remove.textContent = 'Remove';
        remove.dataset.user = member.userId;
        remove.addEventListener('click', () => onRemove(member));
        item.append(' ', remove);
      }
      return item;
    }),
  );
  ui.membersSection.hidden = false;
}

/** Hides the members section (the lobby has none, or they could not be listed). */
export function hideMembers(): void {
  ui.membersSection.hidden = true;
}

/** Lists who is online (`name#mark` labels, in the order given). */
export function renderOnline(names: readonly string[]): void {
  ui.online.replaceChildren(
    ...names.map((name) => {
      const item = document.createElement('li');
      item.append(person(name, 'person'));
      return item;
    }),
  );
}

/** Shows a fresh invite link, which its creator may revoke. */
export function showInvite(link: string): void {
  ui.inviteLink.value = link;
  ui.revokeInvite.disabled = false;
  ui.revokeInvite.textContent = 'Revoke link';
  ui.invite.hidden = false;
}

/** Shows that the invite link was revoked. */
export function showInviteRevoked(): void {
  ui.inviteLink.value = '';
  ui.revokeInvite.disabled = true;
  ui.revokeInvite.textContent = 'Link revoked';
}
