/**
 * Phoenix.Token over a WebSocket connect (docs/protocol.md §8, §1.4; checklist §11 item 50): tokens
 * minted by the real Plug.Crypto (§8.4) authenticate a socket whose `connect` verifies them with
 * the endpoint's signer, whether they travel as a query param or in the auth-token subprotocol;
 * expired, wrongly salted and altered tokens are refused with HTTP 403.
 */
import { describe, expect, it } from 'vitest';
import { accept, ok, refuse } from '../../../src/index.ts';
import { startCustomEndpoint, type CustomEndpoint } from '../../support/custom-endpoint.ts';
import { replyPayload, socketUrl, useFixtures, V2 } from '../../support/wire-client.ts';
import { tryUpgrade } from '@starling/test-support/raw-client';

const { connect, track } = useFixtures();

const SECRET = 'a'.repeat(64);
const SIGNED_AT = 1_700_000_000; // seconds

const VECTORS = [
  { data: 42, salt: 'user socket', token: 'SFMyNTY.g2gDYSpuBgAAaOXPiwFiAAFRgA.vS9_m3KrZklLiGW90qm-ecaOXJmcQDrOJHiay9rGJEo' },
  { data: 'user-123', salt: 'user socket', token: 'SFMyNTY.g2gDbQAAAAh1c2VyLTEyM24GAABo5c-LAWIAAVGA.Fp4hp17StczVIrqNpDRpAK0THSOwXvg66knDh7QQI0Q' },
  {
    data: { id: 7, role: 'admin' },
    salt: 'user auth',
    token: 'SFMyNTY.g2gDdAAAAAJtAAAAAmlkYQdtAAAABHJvbGVtAAAABWFkbWlubgYAAGjlz4sBYgABUYA.K_h_TGWyMLzViFNmVvTXkny5XC5DN7_H4-alZ6TNifU',
  },
] as const;

/** phoenix.js's encoding of an auth token as a subprotocol: btoa without padding. */
const bearer = (token: string): string => `base64url.bearer.phx.${btoa(token).replace(/=+$/, '')}`;

/**
 * An endpoint with the §8.4 secret whose `connect` verifies the auth token (or the `token` param)
 * with `salt` and `max_age` from the params, and whose channel replies to a join with the
 * token's data. Every verdict is recorded.
 */
async function tokenEndpoint(): Promise<CustomEndpoint & { verdicts: unknown[] }> {
  const verdicts: unknown[] = [];
  // `connect` runs only after the endpoint is up, when `custom` is set.
  const custom: CustomEndpoint = track(
    await startCustomEndpoint(
      { join: (_topic, _payload, socket) => ok({ data: socket.assigns.data }) },
      {
        endpoint: { secretKeyBase: SECRET },
        socket: {
          connect(params, info) {
            const salt = typeof params.salt === 'string' ? params.salt : 'user socket';
            const options = params.max_age === 'infinity' ? { maxAge: 'infinity' as const } : {};
            const result = custom.endpoint.tokens.verify(salt, info.authToken ?? params.token, options);
            verdicts.push(result.ok ? 'ok' : result.reason);
            return result.ok ? accept({ data: result.data }) : refuse();
          },
        },
      },
    ),
  );
  return Object.assign(custom, { verdicts });
}

describe('Phoenix.Token interoperability on connect (§8.4, item 50)', () => {
  for (const { data, salt, token } of VECTORS) {
    describe(`the Plug.Crypto token for ${JSON.stringify(data)} (salt "${salt}")`, () => {
      it('authenticates a connect as the token param with maxAge infinity; the data reaches the channel', async () => {
        const custom = await tokenEndpoint();
        const client = await connect(custom, V2, { token, salt, max_age: 'infinity' });
        expect(await client.join('room:1', '1')).toEqual(['1', '1', 'room:1', 'phx_reply', replyPayload('ok', { data })]);
        expect(custom.verdicts).toEqual(['ok']);
      });

      it('authenticates a connect through the auth-token subprotocol', async () => {
        const custom = await tokenEndpoint();
        const client = await connect(custom, V2, { salt, max_age: 'infinity' }, { protocols: ['phoenix', bearer(token)] });
        expect(client.raw.ws.protocol).toBe('phoenix');
        expect(await client.join('room:1', '1')).toEqual(['1', '1', 'room:1', 'phx_reply', replyPayload('ok', { data })]);
      });

      it('is refused (403) as expired with the default max age', async () => {
        const custom = await tokenEndpoint();
        expect((await tryUpgrade(socketUrl(custom.wsUrl, '2.0.0', { token, salt }))).status).toBe(403);
        expect(custom.verdicts).toEqual(['expired']);
      });

      it('is refused (403) as invalid with another salt', async () => {
        const custom = await tokenEndpoint();
        const other = salt === 'user socket' ? 'user auth' : 'user socket';
        expect((await tryUpgrade(socketUrl(custom.wsUrl, '2.0.0', { token, salt: other, max_age: 'infinity' }))).status).toBe(403);
        expect(custom.verdicts).toEqual(['invalid']);
      });

      it('is refused (403) as invalid with one character altered', async () => {
        const custom = await tokenEndpoint();
        const at = token.length - 5;
        const altered = token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1);
        expect((await tryUpgrade(socketUrl(custom.wsUrl, '2.0.0', { token: altered, salt, max_age: 'infinity' }))).status).toBe(403);
        expect(custom.verdicts).toEqual(['invalid']);
      });

      it('is reproduced byte for byte by the endpoint’s signer', async () => {
        const custom = await tokenEndpoint();
        expect(custom.endpoint.tokens.sign(salt, data, { signedAt: SIGNED_AT, maxAge: 86_400 })).toBe(token);
      });
    });
  }

  it('refuses a connect without any token (verdict "missing")', async () => {
    const custom = await tokenEndpoint();
    expect((await tryUpgrade(socketUrl(custom.wsUrl, '2.0.0'))).status).toBe(403);
    expect(custom.verdicts).toEqual(['missing']);
  });
});
