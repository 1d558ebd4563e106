// Where the broker is: `?broker=wss://...` in the page's address, else `broker` in config.json
// next to index.html (tools/up.sh writes one), else wss://<this host>:9443 (the shipped port).
export async function brokerUrl(): Promise<string> {
  const fromQuery = new URLSearchParams(location.search).get('broker');
  if (fromQuery) {
    return fromQuery;
  }
  try {
    const response = await fetch('config.json', { cache: 'no-store' });
    if (response.ok) {
      const config = (await response.json()) as { broker?: unknown };
      if (typeof config.broker === 'string' && config.broker !== '') {
        return config.broker;
      }
    }
  } catch {
    // no config.json: the default below
  }
  return `wss://${location.hostname}:9443`;
}

/** This tab's device name: kept across reloads of the tab (its broker session resumes). */
export function deviceName(): string {
  const key = 'parley.device';
  let device = sessionStorage.getItem(key);
  if (!device) {
    device = `web-${Math.random().toString(36).slice(2, 8)}`;
    sessionStorage.setItem(key, device);
  }
  return device;
}
