/**
 * @module room-lifecycle
 * The open room's channel from join to leave: one room is open at a time; opening another leaves
 * the previous one. It joins, shows the first page, follows new messages and presence, pages back
 * through older messages, and sends.
 *
 * Reconnects: the channel remembers the position of the last publication it saw
 * (`recoverableChannel`) and rejoins with it, so the server replays exactly what was missed and no
 * history is reloaded; only when the server cannot (`recovered: false`: away too long, or it
 * restarted) does the page ask for the latest page again, retrying until it arrives. Messages
 * merge by id (`message-state.ts`), so a message is never shown twice, whichever way it arrives.
 *
 * Edits and deletes arrive as `msg_edited` / `msg_deleted` (in a replay too) and replace the
 * message they change when it is shown. Typing notices and arrivals are handed to the page's
 * {@link RoomHooks}; the join reply's `last_read` places the "new messages" divider.
 *
 * @example
 * const rooms = new RoomLifecycle(socket, api, () => name, hooks);
 * rooms.open({ id: 'lobby', name: 'lobby' });
 * rooms.send('hello');
 */
import { Presence, type Channel, type PresenceEntry, type Socket } from 'phoenix';
import { recoverableChannel, typedChannel, type StreamNotice } from 'starling-channels/client';
import type { JoinReply, RoomEvents, WireMessage } from '../src/room-channel.ts';
import type { ChatApi, RoomInfo } from './api.ts';
import { MessageState, type ChatMessage } from './message-state.ts';
import * as view from './view.ts';

/** The public room everyone may read: it has no members list. */
export const LOBBY: RoomInfo = { id: 'lobby', name: 'lobby' };

/** How long to wait before asking again for a latest page that did not arrive. */
const RELOAD_RETRY_MS = 5000;

/** Whether the open room still waits for the latest page after a reconnect that could not resume. */
interface Reload {
  needed: boolean;
}

/** What the page does with what the open room receives besides drawing it. */
export interface RoomHooks {
  /** How messages are drawn for this viewer (their mark, the Edit and Delete actions). */
  readonly view: () => Omit<view.MessageView, 'readUpTo'>;
  /** A new message arrived live (not from a page of history). */
  readonly onNewMessage: (room: RoomInfo, message: WireMessage) => void;
  /** Someone else in the open room is typing (`name#mark`). */
  readonly onTyping: (user: string) => void;
  /** The open room's messages were drawn: the newest shown is `lastId`. */
  readonly onShown: (room: RoomInfo, lastId: number | undefined) => void;
  /** People who may be mentioned changed (`name#mark` labels of those online and members). */
  readonly onPeople: (labels: readonly string[]) => void;
}

/** The open room: its channel, presence and messages. */
export class RoomLifecycle {
  readonly #socket: Socket;
  readonly #api: ChatApi;
  readonly #name: () => string;
  readonly #hooks: RoomHooks;
  readonly #messages = new MessageState();
  #room: RoomInfo = LOBBY;
  #channel: Channel | null = null;
  /** Where the "new messages" divider goes: the last-read id when the room was opened. */
  #readUpTo: number | null = null;
  #dividerPlaced = false;
  #online: string[] = [];
  #members: string[] = [];

  /** @param name the name to join with (the user's profile name), read at every join and rejoin. */
  constructor(socket: Socket, api: ChatApi, name: () => string, hooks: RoomHooks) {
    this.#socket = socket;
    this.#api = api;
    this.#name = name;
    this.#hooks = hooks;
  }

  /** The open room (the lobby until another is opened). */
  get room(): RoomInfo {
    return this.#room;
  }

  /**
   * Opens `room`, leaving the one open before. Opening the open room again (a new name) rejoins
   * and keeps what is shown; the join reply merges by id.
   */
  open(room: RoomInfo): void {
    this.#channel?.leave();
    if (room.id !== this.#room.id || this.#channel === null) {
      this.#messages.clear();
      this.#readUpTo = null;
      this.#dividerPlaced = false;
      this.#members = [];
      view.pinMessages();
      this.#render();
    }
    this.#room = room;
    view.showRoom(room);
    // The address names the open room (never the invite, which is spent): a reload comes back here
    // and the link can be shared with members.
    history.replaceState(null, '', room.id === LOBBY.id ? '/' : `/?room=${encodeURIComponent(room.id)}`);

    // The first join replies with the latest page. A rejoin (after a lost connection, over
    // WebSocket or LongPoll) sends the last position seen as `recover`: it is answered without a
    // page, and what was missed arrives as the usual new_msg pushes before phx_stream. Only when
    // that is impossible does the page reload the latest page. Messages merge by id either way.
    const reload: Reload = { needed: false };
    const { channel } = recoverableChannel(this.#socket, `rooms:${room.id}`, {
      params: () => ({ name: this.#name() }),
      onStream: (notice: StreamNotice) => {
        // Until the page arrives every later phx_stream (a rejoin) asks again: the remembered
        // position has moved past the gap, so no replay will ever fill it.
        if (notice.recovered === false) reload.needed = true;
        if (reload.needed) this.#reloadLatest(channel, reload);
      },
    });
    const presence = new Presence(channel);
    // A room left a moment ago may still answer (its join reply was on the way): only the open
    // room's channel may touch the page.
    const current = (): boolean => this.#channel === channel;
    presence.onSync(() => {
      if (!current()) return;
      this.#online = onlineNames(presence);
      view.renderOnline(this.#online);
      this.#hooks.onPeople([...new Set([...this.#online, ...this.#members])]);
      // Someone came or went: the member list may have changed (an invite was used).
      this.#refreshMembers(room).catch(() => view.hideMembers());
    });
    const typed = typedChannel<RoomEvents>(channel);
    typed.on('new_msg', (message) => {
      if (!current()) return;
      if (message.author.endsWith(`#${this.#hooks.view().myMark ?? ''}`)) view.hideSendError(); // one of mine went through
      this.#show([message]);
      this.#hooks.onNewMessage(room, message);
    });
    // An edit or delete replaces the message if it is shown; one older than what is shown waits for its page.
    const change = (message: WireMessage): void => {
      if (current() && this.#messages.replace(message)) this.#render();
    };
    typed.on('msg_edited', change);
    typed.on('msg_deleted', change);
    typed.on('typing', ({ user }) => current() && this.#hooks.onTyping(user));
    channel
      .join()
      .receive('ok', (reply: JoinReply) => {
        if (!current()) return;
        view.hideJoinError();
        // Back in the room (after an outage, say): an old "Not sent" no longer holds.
        view.hideSendError();
        // A rejoin that resumes gets no page ({}): what is shown stays as it is.
        if (reply.messages === undefined) return;
        // The divider stays where the reader stopped when they opened the room, if others wrote
        // since (not before messages that arrive while they read, nor before their own).
        if (!this.#dividerPlaced && reply.last_read !== undefined) {
          this.#dividerPlaced = true;
          const lastRead = reply.last_read;
          const mark = this.#hooks.view().myMark;
          const unseen = reply.messages.some((message) => message.id > lastRead && !message.author.endsWith(`#${mark ?? ''}`));
          this.#readUpTo = lastRead > 0 && unseen ? lastRead : null;
        }
        this.#show(reply.messages);
        view.setOlderVisible(reply.more === true);
      })
      .receive('error', (reply: { reason?: string }) => {
        if (!current()) return;
        view.showRoomError(
          reply.reason === 'unauthorized' ? 'You are not a member of this room: ask for an invite link.' : `Could not join: ${reply.reason ?? 'unknown error'}`,
          'join',
        );
        // A refused join would otherwise be retried by the client forever.
        if (reply.reason === 'unauthorized') channel.leave();
      });
    this.#channel = channel;
    view.clearPeople();
  }

  /** Asks for the page of messages before the oldest one shown. */
  loadOlder(): void {
    const channel = this.#channel;
    if (channel === null) return;
    typedChannel<RoomEvents>(channel)
      .push('history', { before: this.#messages.firstId() })
      .receive('ok', (reply) => {
        if (this.#channel !== channel) return;
        this.#show(reply.messages);
        view.setOlderVisible(reply.more === true);
      })
      .receive('error', (reply) => view.showRoomError(`Not loaded: ${(reply as { reason?: string }).reason ?? 'error'}`, 'other'));
  }

  /**
   * Sends a message to the open room; false when no room has been opened yet. Its broadcast, which
   * carries the stored id, is the acknowledgement; a refusal is shown, and so is a message stored
   * while the servers could not carry it live (`{live: false}`: the room reloads when they can).
   */
  send(body: string): boolean {
    if (this.#channel === null) return false;
    typedChannel<RoomEvents>(this.#channel)
      .push('new_msg', { body })
      .receive('ok', (reply) => {
        if ((reply as { live?: unknown } | undefined)?.live === false)
          view.showRoomError('Sent and saved; the others see it once the servers reconnect.', 'send');
        else view.hideSendError();
      })
      .receive('error', (reply) => view.showRoomError(`Not sent: ${(reply as { reason?: string }).reason ?? 'error'}`, 'send'));
    return true;
  }

  /** Replaces the body of the open room's message `id`, if it is the sender's (the server checks). */
  edit(id: number, body: string): void {
    this.#push('edit_msg', { id, body }, 'Not edited');
  }

  /** Deletes the open room's message `id`, if it is the sender's (the server checks). */
  remove(id: number): void {
    this.#push('delete_msg', { id }, 'Not deleted');
  }

  /** Tells the others in the open room that this user is typing (the caller throttles). */
  typing(): void {
    this.#channel?.push('typing', {});
  }

  /** Moves this user's last-read position in the open room to `id` (kept on the server). */
  markRead(id: number): void {
    this.#channel?.push('read', { id });
  }

  /** Draws the messages again (the viewer's mark became known, a message is being edited). */
  render(): void {
    this.#render();
  }

  #push(event: 'edit_msg' | 'delete_msg', payload: { id: number; body?: string }, failure: string): void {
    this.#channel?.push(event, payload).receive('error', (reply: { reason?: string }) => view.showRoomError(`${failure}: ${reply.reason ?? 'error'}`, 'other'));
  }

  #show(messages: readonly ChatMessage[]): void {
    this.#messages.add(messages);
    this.#render();
  }

  #render(): void {
    view.renderMessages(this.#messages.ordered(), { ...this.#hooks.view(), readUpTo: this.#readUpTo });
    this.#hooks.onShown(this.#room, this.#messages.lastId());
  }

  /**
   * Asks for the latest page of the open room after a reconnect whose gap the server could not
   * replay; `reload.needed` stays set until it is shown (a failed request is asked again later).
   */
  #reloadLatest(channel: Channel, reload: Reload): void {
    if (this.#channel !== channel) return;
    const retry = (): void => {
      setTimeout(() => reload.needed && this.#reloadLatest(channel, reload), RELOAD_RETRY_MS);
    };
    typedChannel<RoomEvents>(channel)
      .push('history', {})
      .receive('ok', (page) => {
        if (this.#channel !== channel) return;
        reload.needed = false;
        if (this.#messages.addLatestPage(page)) view.setOlderVisible(true);
        this.#render();
      })
      .receive('error', retry)
      .receive('timeout', retry);
  }

  /**
   * Shows a private room's members; its owner gets a "Remove" button next to everyone else.
   * Removed members' sockets are closed by the server and they cannot re-join.
   */
  async #refreshMembers(room: RoomInfo): Promise<void> {
    if (room.id === LOBBY.id) {
      view.hideMembers();
      return;
    }
    const members = await this.#api.members(room.id);
    if (this.#room.id !== room.id) return;
    this.#members = members.map((member) => member.name);
    this.#hooks.onPeople([...new Set([...this.#online, ...this.#members])]);
    const iOwn = members.some((member) => member.owner && member.userId === this.#api.identity?.userId);
    view.renderMembers(members, iOwn, (member) => {
      void this.#api.removeMember(room.id, member.userId).then(
        () => this.#refreshMembers(room),
        (err: unknown) => view.showRoomError(`Not removed: ${(err as Error).message}`, 'other'),
      );
    });
  }
}

/** Who is online, by name: presences are keyed by user id and the newest join's meta carries the name. */
function onlineNames(presence: Presence): string[] {
  return presence
    .list((_userId: string, entry: PresenceEntry) => {
      const name = (entry.metas.at(-1) as { name?: unknown } | undefined)?.name;
      return typeof name === 'string' ? name : '?';
    })
    .sort((a: string, b: string) => a.localeCompare(b));
}
