// Shown while the app is unreachable: says so plainly, says how old what is
// on screen is, and that the page keeps trying (it recovers by itself).

import { useEffect, useState } from 'preact/hooks';

export function OutageBanner({ receivedAt, detail }: { receivedAt: number | null; detail: string | undefined }) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const age = receivedAt === null ? null : Math.max(0, Math.round((now - receivedAt) / 1000));
  return (
    <div class="outage-banner" role="alert" data-testid="outage-banner" title={detail ?? ''}>
      <strong>The app is unreachable.</strong>{' '}
      {age === null
        ? 'Nothing was received for this view yet.'
        : `What you see is stale: last update ${age < 60 ? `${age} s` : `${Math.round(age / 60)} min`} ago (${new Date(receivedAt as number).toLocaleTimeString()}).`}{' '}
      Reconnecting by itself; views can still be switched.
    </div>
  );
}
