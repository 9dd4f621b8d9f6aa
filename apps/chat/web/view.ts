/**
 * @module view
 * The page's DOM: the elements of `index.html` and the functions that draw into them. It holds no
 * state and makes no calls; what to draw is passed in, and what a click should do is passed as a
 * callback. Every user-supplied string is rendered with textContent, never as HTML.
 *
 * People are shown as `name#mark`: the name they chose and a mark the server derives from their
 * user id, so two people may share a name but no one can pass for someone else. The mark is shown
 * in an element of its own (see {@link person}), so a `#` typed into a name never passes for one.
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
export function showRoomError(text: string, kind: 'join' | 'other'): void {
  ui.roomError.textContent = text;
  ui.roomError.dataset.kind = kind;
  ui.roomError.hidden = false;
}

/** Hides the room's error line if it shows a join error. */
export function hideJoinError(): void {
  if (ui.roomError.dataset.kind === 'join') ui.roomError.hidden = true;
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

/** Lists the rooms, marking the open one; a click on one calls `onOpen` with it. */
export function renderRooms(rooms: readonly RoomInfo[], openId: string, onOpen: (room: RoomInfo) => void): void {
  ui.rooms.replaceChildren(
    ...rooms.map((room) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = `# ${room.name}`;
      button.dataset.room = room.id;
      if (room.id === openId) button.setAttribute('aria-current', 'true');
      button.addEventListener('click', () => onOpen(room));
      item.append(button);
      return item;
    }),
  );
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

/** Shows the messages (oldest first), staying on the newest unless the reader scrolled up. */
export function renderMessages(messages: readonly ChatMessage[]): void {
  ui.messages.replaceChildren(
    ...messages.map((message) => {
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
  pin.stick();
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
