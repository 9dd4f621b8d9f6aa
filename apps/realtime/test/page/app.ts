// The browser page of the Chromium test: supabase-js, unchanged, against `npm run realtime`.
// It reads the server URL and its key from the query, subscribes to `realtime:page`, and records
// what it hears in `window.events` for the test to read.
import { createClient } from '@supabase/supabase-js';

const query = new URLSearchParams(location.search);
const supabase = createClient(query.get('url')!, query.get('key')!);
const events: unknown[] = [];
(window as unknown as { events: unknown[] }).events = events;

const channel = supabase.channel('page', { config: { broadcast: { self: true }, presence: { key: query.get('name')! } } });
channel
  .on('broadcast', { event: 'msg' }, ({ payload }) => events.push({ broadcast: payload }))
  .on('presence', { event: 'sync' }, () => events.push({ presence: Object.keys(channel.presenceState()).sort() }))
  .subscribe((status) => {
    events.push({ status });
    if (status !== 'SUBSCRIBED') return;
    void channel
      .track({ name: query.get('name') })
      .then(() => channel.send({ type: 'broadcast', event: 'msg', payload: { from: query.get('name') } }))
      .then((outcome) => events.push({ sent: outcome }));
  });
