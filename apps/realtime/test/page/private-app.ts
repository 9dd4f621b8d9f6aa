// The browser page of the private-channel Chromium test: the latest supabase-js (2.119.x),
// unchanged, as an app with its own sign-in uses it against `npm run realtime` — the anon key,
// the user's JWT through the `accessToken` option and `realtime.setAuth()`, then a private
// channel. It records what it hears in `window.events` for the test to read.
import { createClient } from 'supabase-js-latest';

const query = new URLSearchParams(location.search);
const name = query.get('name')!;
const token = query.get('token')!;
const events: unknown[] = [];
(window as unknown as { events: unknown[] }).events = events;

const supabase = createClient(query.get('url')!, query.get('key')!, { accessToken: () => Promise.resolve(token) });
// Private channels need the user's token on the socket before they join (Supabase's guide says so).
await supabase.realtime.setAuth();

const channel = supabase.channel(query.get('room')!, { config: { private: true, broadcast: { self: true }, presence: { key: name } } });
channel
  .on('broadcast', { event: 'msg' }, ({ payload }) => events.push({ broadcast: payload }))
  .on('presence', { event: 'sync' }, () => events.push({ presence: Object.keys(channel.presenceState()).sort() }))
  .subscribe((status, err) => {
    events.push(err === undefined ? { status } : { status, error: err.message });
    if (status !== 'SUBSCRIBED') return;
    void channel
      .track({ name })
      .then((tracked) => events.push({ tracked }))
      .then(() => channel.send({ type: 'broadcast', event: 'msg', payload: { from: name } }))
      .then((sent) => events.push({ sent }));
  });
