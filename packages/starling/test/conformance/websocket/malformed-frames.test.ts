/**
 * Raw-frame conformance for frames the server cannot accept (docs/protocol.md §0.1, §2.5, §7.3;
 * checklist §11 items 26–27). Starling's documented choice: an undecodable frame closes that
 * socket with 1007, an oversized frame with 1009, and every other socket carries on.
 */
import { describe, expect, it } from 'vitest';
import type { Fixture } from '../../support/fixture.ts';
import { replyPayload, useFixtures, V1, V2, type WireClient } from '../../support/wire-client.ts';

const { start, connect } = useFixtures();

const OK = replyPayload('ok');

/** A bystander socket with a joined channel, to show a bad frame elsewhere does not touch it. */
async function bystander(fixture: Fixture): Promise<WireClient> {
  const client = await connect(fixture, V2);
  await client.join('test:room', '1');
  return client;
}

async function expectUntouched(client: WireClient): Promise<void> {
  expect(await client.push([null, '90', 'phoenix', 'heartbeat', {}])).toEqual([null, '90', 'phoenix', 'phx_reply', OK]);
  expect(await client.push(['1', '91', 'test:room', 'reply_ok', {}])).toEqual(['1', '91', 'test:room', 'phx_reply', OK]);
}

describe('undecodable frames close only their socket with 1007 (§2.5, item 26)', () => {
  const v2Cases: Array<[name: string, data: string | Buffer, binary?: boolean]> = [
    ['invalid JSON', 'this is not json'],
    ['a 4-element array', '["1","2","test:room","echo"]'],
    ['a JSON object on a V2 socket', '{"topic":"test:room","event":"echo","payload":{},"ref":"2"}'],
    ['a topic that is not a string', '["1","2",42,"echo",{}]'],
    ['an event that is not a string', '["1","2","test:room",null,{}]'],
    ['a ref that is an object', '["1",{"r":2},"test:room","echo",{}]'],
    ['a binary frame of unknown kind 7', Buffer.from([0x07, 0, 0, 0, 0]), true],
  ];
  for (const [name, data, binary] of v2Cases) {
    it(`V2: ${name} → close 1007; its channels terminate; other sockets are unaffected`, async () => {
      const fixture = await start();
      const other = await bystander(fixture);
      const client = await connect(fixture, V2);
      await client.join('test:victim', '1');

      client.raw.sendRaw(data, binary ?? false);
      expect((await client.closed).code).toBe(1007);
      expect(fixture.calls.filter((c) => c.callback === 'terminate')).toEqual([
        { callback: 'terminate', topic: 'test:victim', reason: { shutdown: 'closed' } },
      ]);
      expect(fixture.endpoint.pubsub.subscriberCount('test:victim')).toBe(0);
      await expectUntouched(other);
    });
  }

  const v1Cases: Array<[name: string, data: string | Buffer, binary?: boolean]> = [
    ['invalid JSON', '{"topic":'],
    ['a V2 array on a V1 socket', '[null,"2","phoenix","heartbeat",{}]'],
    ['an object without ref', '{"topic":"phoenix","event":"heartbeat","payload":{}}'],
    ['an object without payload', '{"topic":"phoenix","event":"heartbeat","ref":"2"}'],
    ['a binary frame (V1 has none)', Buffer.from([0x00, 0, 1, 7, 4, 0x32, ...Buffer.from('phoenix'), ...Buffer.from('ping')]), true],
  ];
  for (const [name, data, binary] of v1Cases) {
    it(`V1: ${name} → close 1007; other sockets are unaffected`, async () => {
      const fixture = await start();
      const other = await bystander(fixture);
      const client = await connect(fixture, V1);
      client.raw.sendRaw(data, binary ?? false);
      expect((await client.closed).code).toBe(1007);
      await expectUntouched(other);
    });
  }
});

describe('frame limits (§7.3, item 27)', () => {
  it('closes with 1009 on a frame larger than maxFrameSize; a frame within it is handled; other sockets carry on', async () => {
    const fixture = await start({ socket: { websocket: { maxFrameSize: 1024 } } });
    const other = await bystander(fixture);
    const client = await connect(fixture, V2);
    await client.join('test:room', '1');

    const fits = JSON.stringify(['1', '2', 'test:room', 'echo', { pad: '' }]);
    const pad = 'x'.repeat(1024 - fits.length);
    client.raw.sendRaw(JSON.stringify(['1', '2', 'test:room', 'echo', { pad }]));
    expect(await client.reply('2')).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', { pad })]);

    client.raw.sendRaw(JSON.stringify(['1', '3', 'test:room', 'echo', { pad: `${pad}y` }]));
    expect((await client.closed).code).toBe(1009);
    await expectUntouched(other);
  });

  it('defaults maxFrameSize to 1 MiB', async () => {
    const fixture = await start();
    const client = await connect(fixture, V2);
    await client.join('test:room', '1');
    const fits = JSON.stringify(['1', '2', 'test:room', 'echo', '']);
    const body = 'x'.repeat(1024 * 1024 - fits.length);
    client.raw.sendRaw(JSON.stringify(['1', '2', 'test:room', 'echo', body]));
    expect(await client.reply('2')).toEqual(['1', '2', 'test:room', 'phx_reply', replyPayload('ok', body)]);
    client.raw.sendRaw(JSON.stringify(['1', '3', 'test:room', 'echo', `${body}y`]));
    expect((await client.closed).code).toBe(1009);
  });

  it('closes with 1007 on a text frame that is not valid UTF-8; other sockets carry on', async () => {
    const fixture = await start();
    const other = await bystander(fixture);
    const client = await connect(fixture, V2);
    // A V2 heartbeat whose topic contains the lone byte 0xFF, sent with the text opcode.
    const bytes = Buffer.concat([Buffer.from('[null,"1","phoen'), Buffer.from([0xff]), Buffer.from('ix","heartbeat",{}]')]);
    client.raw.sendRaw(bytes, false);
    expect((await client.closed).code).toBe(1007);
    await expectUntouched(other);
  });
});
