// Service worker of the phone cockpit (/m), registered with scope /m. It keeps three caches:
// the app shell (network first, so a deploy shows at once), the last answers of the cockpit's
// APIs (network first, the cache when offline) and the district PMTiles pack (cache first;
// range requests are cut from the cached file, as the pmtiles reader asks for byte ranges).
const SHELL = 'onemap-m-shell-v2';
const DATA = 'onemap-m-data-v2';
const PACK = 'onemap-m-pack';
const SHELL_URLS = ['/m', '/m/m.js', '/m/m.css', '/cockpit.css', '/js/cockpit-tiles.js',
  '/viewer/vendor/maplibre-gl/dist/maplibre-gl.mjs', '/viewer/vendor/maplibre-gl/dist/maplibre-gl.css',
  '/viewer/vendor/pmtiles/dist/pmtiles.js'];
const DATA_PREFIXES = ['/indicators', '/viewer/api/events/categories', '/packs', '/styles/basemap.json', '/styles/glyphs'];

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(SHELL).then((c) => c.addAll(SHELL_URLS)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('onemap-m-') && ![SHELL, DATA, PACK].includes(name)) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

function cached(resp) {
  // Mark an answer from the cache so the page can say that it shows the last sync.
  const headers = new Headers(resp.headers);
  headers.set('X-OneMap-Cached', '1');
  return new Response(resp.body, { status: resp.status, statusText: resp.statusText, headers });
}

async function networkFirst(request, cacheName) {
  const cache = await caches.open(cacheName);
  try {
    const resp = await fetch(request);
    if (resp.ok) await cache.put(request, resp.clone());
    return resp;
  } catch (err) {
    const hit = await cache.match(request);
    if (hit) return cached(hit);
    throw err;
  }
}

async function pack(request, url) {
  const cache = await caches.open(PACK);
  let hit = await cache.match(url.pathname);
  if (!hit) {
    const resp = await fetch(url.pathname);  // the whole file once, then ranges from the cache
    if (!resp.ok) return resp;
    await cache.put(url.pathname, resp.clone());
    hit = resp;
  }
  const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.get('Range') || '');
  if (!range) return hit;
  const buf = await hit.arrayBuffer();
  const start = Number(range[1]);
  const end = range[2] ? Math.min(Number(range[2]), buf.byteLength - 1) : buf.byteLength - 1;
  return new Response(buf.slice(start, end + 1), { status: 206, headers: {
    'Content-Type': 'application/vnd.pmtiles', 'Content-Range': `bytes ${start}-${end}/${buf.byteLength}`,
    'Content-Length': String(end - start + 1), 'Accept-Ranges': 'bytes' } });
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/packs/') && url.pathname.endsWith('.pmtiles')) {
    event.respondWith(pack(request, url));
  } else if (SHELL_URLS.includes(url.pathname)) {
    event.respondWith(networkFirst(request, SHELL));
  } else if (DATA_PREFIXES.some((p) => url.pathname === p || url.pathname.startsWith(`${p}/`))) {
    event.respondWith(networkFirst(request, DATA));
  }
});
