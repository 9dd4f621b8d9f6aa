/**
 * @module api
 * The page's HTTP calls to the chat's API, and this browser's user token: it is kept in
 * localStorage, renewed on every visit, and sent as a bearer token with every call. Nothing here
 * touches the DOM; failures reject with an `Error` whose message is the server's `error` text.
 *
 * @example
 * const api = new ChatApi();
 * const identity = await api.identify();
 * const rooms = await api.rooms();
 */

/** A room as the API lists it. */
export interface RoomInfo {
  id: string;
  name: string;
}

/** This browser's user: who the server knows it as. */
export interface Identity {
  userId: string;
  token: string;
  /** What follows `#` after this user's name everywhere. */
  mark: string;
}

/** A member of a private room as the API lists it. */
export interface MemberInfo {
  userId: string;
  /** `name#mark`, as everywhere. */
  name: string;
  owner: boolean;
}

/** A room just created, with its first invite link. */
export interface CreatedRoom {
  room: RoomInfo;
  /** The invite link to share. */
  invite: string;
  /** The invite's id, to revoke it. */
  inviteId: string;
}

const TOKEN_KEY = 'starling:token';

/** The chat's HTTP API on behalf of this browser's user. */
export class ChatApi {
  #identity: Identity | null = null;

  /** Who this browser is, once {@link ChatApi.identify} has resolved. */
  get identity(): Identity | null {
    return this.#identity;
  }

  /** Gets (or renews) this browser's signed user token. */
  async identify(): Promise<Identity> {
    return this.#remember(await this.#call<Identity>('POST', '/api/identity', { token: localStorage.getItem(TOKEN_KEY) }));
  }

  /**
   * Ends every session of this user (a token left on another device); this page gets a new token.
   * The server closes this page's socket too, which reconnects with the new token.
   */
  async revokeOtherSessions(): Promise<Identity> {
    return this.#remember(await this.#call<Identity>('POST', '/api/identity/revoke'));
  }

  /** Every room this user is a member of, oldest first (all pages of the listing). */
  async rooms(): Promise<RoomInfo[]> {
    const rooms: RoomInfo[] = [];
    for (let after: string | null = null, first = true; first || after !== null; first = false) {
      const page: { rooms: RoomInfo[]; next: string | null } = await this.#call(
        'GET',
        `/api/rooms${after === null ? '' : `?after=${encodeURIComponent(after)}`}`,
      );
      rooms.push(...page.rooms);
      after = page.next;
    }
    return rooms;
  }

  /** Creates a private room owned by this user, with an invite link. */
  createRoom(name: string): Promise<CreatedRoom> {
    return this.#call('POST', '/api/rooms', { name });
  }

  /** Accepts an invite token (from an invite link): this user becomes a member of its room. */
  async acceptInvite(invite: string): Promise<RoomInfo> {
    const { room } = await this.#call<{ room: RoomInfo }>('POST', '/api/invites/accept', { invite });
    return room;
  }

  /** Revokes an invite this user created. */
  revokeInvite(inviteId: string): Promise<void> {
    return this.#call('DELETE', `/api/invites/${encodeURIComponent(inviteId)}`);
  }

  /** The members of a private room (members only). */
  async members(roomId: string): Promise<MemberInfo[]> {
    const { members } = await this.#call<{ members: MemberInfo[] }>('GET', `/api/rooms/${encodeURIComponent(roomId)}/members`);
    return members;
  }

  /** Removes a member from a room this user owns; the server closes their sockets. */
  removeMember(roomId: string, userId: string): Promise<void> {
    return this.#call('DELETE', `/api/rooms/${encodeURIComponent(roomId)}/members/${encodeURIComponent(userId)}`);
  }

  /** This user's unread messages (and mentions of them) in the lobby and each of their rooms. */
  async unread(): Promise<Array<{ id: string; lastRead: number; count: number; mentions: number }>> {
    const { rooms } = await this.#call<{ rooms: Array<{ id: string; lastRead: number; count: number; mentions: number }> }>('GET', '/api/unread');
    return rooms;
  }

  #remember(identity: Identity): Identity {
    this.#identity = identity;
    localStorage.setItem(TOKEN_KEY, identity.token);
    return identity;
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.#identity) headers.authorization = `Bearer ${this.#identity.token}`;
    const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    if (response.status === 204) return undefined as T;
    const json = (await response.json()) as T & { error?: string };
    if (!response.ok) throw new Error(json.error ?? `HTTP ${response.status}`);
    return json;
  }
}
