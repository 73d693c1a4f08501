// The server API as the viewer's modules call it: one place that knows the signed-in key.
//
//   await api.get('/layers')                       → parsed JSON (params: an object of query parameters)
//   await api.post('/dispatch/triage', { text })   → parsed JSON (body sent as JSON)
//   await api.execute('route', inputs)             → an OGC process (POST /ogc/processes/{id}/execution)
//   await api('/viewer/api/report', { method })    → the raw Response (blobs, custom requests)
//   api.key(), api.role(), api.onRoleChange(fn)    → the signed-in key and its role
//
// Every failed request throws an ApiError with the HTTP status and the server's
// error body (spatial_api/errors.py), so views can tell 401/404 from a real failure.

const ORIGIN = window.location.origin;
const KEY_ITEM = 'onemap.key';

let currentKey = localStorage.getItem(KEY_ITEM) || '';
let currentRole = 'public';
const roleListeners = new Set();

/** An HTTP error answered by the server. */
export class ApiError extends Error {
  constructor(status, path, body) {
    const detail = body && typeof body === 'object' ? (body.description || body.detail || body.title) : null;
    super(detail ? `${status} ${path}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}` : `${status} ${path}`);
    this.status = status;
    this.path = path;
    this.body = body;
  }
}

function withParams(path, params) {
  if (!params) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  const s = q.toString();
  if (!s) return path;
  return path + (path.includes('?') ? '&' : '?') + s;
}

/** The raw request: fetch with the key in X-API-Key; throws ApiError unless 2xx. */
async function request(path, opts = {}) {
  const headers = { ...(opts.headers || {}) };
  if (currentKey) headers['X-API-Key'] = currentKey;
  // index.html asked for the page's first answers before the modules had loaded: a plain
  // GET of the same path with the same key takes that response (once).
  const plain = !opts.method && !opts.body && !opts.headers && !opts.signal;
  const early = plain && window.onemapEarly ? window.onemapEarly.take(path, currentKey) : null;
  const r = await (early || fetch(ORIGIN + path, { ...opts, headers }));
  if (!r.ok) {
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    throw new ApiError(r.status, path, body);
  }
  return r;
}

export const api = Object.assign(request, {
  origin: ORIGIN,
  /** Absolute URL of ``path`` with query ``params`` (and the key when ``withKey``: EventSource, tiles). */
  url(path, params = {}, withKey = false) {
    const p = { ...params };
    if (withKey && currentKey) p.api_key = currentKey;
    return ORIGIN + withParams(path, p);
  },
  /** GET ``path`` with query ``params``; the parsed JSON. */
  async get(path, params) {
    return (await request(withParams(path, params))).json();
  },
  /** POST ``body`` as JSON to ``path``; the parsed JSON. */
  async post(path, body) {
    const r = await request(path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body ?? {}) });
    return r.json();
  },
  /** Execute an OGC API process synchronously; its JSON result. */
  async execute(processId, inputs) {
    return api.post(`/ogc/processes/${encodeURIComponent(processId)}/execution`, { inputs });
  },
  /** The signed-in API key ('' for the public). */
  key() { return currentKey; },
  /** Store (or with '' forget) the key; the role follows from the next /layers answer (setRole). */
  setKey(k) {
    currentKey = (k || '').trim();
    if (currentKey) localStorage.setItem(KEY_ITEM, currentKey); else localStorage.removeItem(KEY_ITEM);
  },
  /** The role of the signed-in key as the server last answered it ('public' without a key). */
  role() { return currentRole; },
  /** Record the role the server answered; listeners run when it changes. */
  setRole(r) {
    const before = currentRole;
    currentRole = r || 'public';
    if (before !== currentRole) for (const fn of [...roleListeners]) fn(currentRole, before);
  },
  /** Call ``fn(role, previous)`` whenever the role changes; returns the unsubscribe function. */
  onRoleChange(fn) {
    roleListeners.add(fn);
    return () => roleListeners.delete(fn);
  },
});

export default api;
