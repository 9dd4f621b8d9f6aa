/**
 * Log lines cannot be forged through a real socket: a client joins a topic full of line breaks,
 * Unicode line separators and an ANSI escape, and makes its channel crash with the framework's
 * own presence error, whose message embeds the topic. The default logger (`consoleLogger`)
 * writes that crash, stack included, as one line with the topic escaped.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { consoleLogger, noreply, ok } from '../../src/index.ts';
import { startCustomEndpoint } from '../support/custom-endpoint.ts';
import { useFixtures, V2, type Tuple } from '../support/wire-client.ts';

const { connect, track } = useFixtures();

afterEach(() => vi.restoreAllMocks());

const FORGED = '[starling] error forged: admin logged in';
// Every character that ends a line for some reader, and an ANSI "clear screen".
const HOSTILE_TOPIC = `rooms:1\n${FORGED}\r\n${FORGED}\u2028${FORGED}\u2029${FORGED}\u0085\u001b[2J`;

describe('a hostile topic in a logged channel crash', () => {
  it('is written as exactly one line by the default logger, the topic escaped in the fields, the message and the stack', async () => {
    const lines: string[] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')));
    const custom = track(
      await startCustomEndpoint(
        {
          join: () => ok(),
          // Updating an untracked key throws StarlingError `"k" is not tracked on <topic>`.
          handleIn: (_event, _payload, socket) => {
            socket.updatePresence('k', {});
            return noreply();
          },
        },
        { endpoint: { logger: consoleLogger() } },
      ),
    );
    const client = await connect(custom, V2);

    await client.join(HOSTILE_TOPIC, '1');
    client.send(['1', '2', HOSTILE_TOPIC, 'rename', {}]);
    await client.receive((frame: Tuple) => frame[3] === 'phx_error');

    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    // eslint-disable-next-line no-control-regex -- the line breaks and ESC that must not reach the log
    expect(line).not.toMatch(/[\n\r\u000b\u000c\u0085\u2028\u2029\u001b]/);
    expect(line).toMatch(/^\[starling\] error channel crashed \{.*"topic":"rooms:1\\n\[starling\] error forged: admin logged in\\r\\n/);
    expect(line).toContain(' err=StarlingError: "k" is not tracked on rooms:1\\n[starling] error forged: admin logged in\\r\\n');
    expect(line).toContain('\\u2028[starling] error forged');
    expect(line).toContain('\\u0085\\u001b[2J\\n    at ');
  });
});
