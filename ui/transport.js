// The one place the UI talks to the engine. In a browser it is `fetch` to the REST API; the
// desktop app swaps in Tauri's `invoke` with the same shape: request(method, path, body, opts)
// resolves to the decoded JSON or rejects with an ApiError carrying the engine's stable code.

export class ApiError extends Error {
  constructor(status, code, message, param) {
    super(message);
    this.status = status;
    this.code = code;
    this.param = param;
  }
}

function newKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

// A transport over HTTP. `session` keeps the tokens; a 401 triggers one refresh and a retry.
export function httpTransport(baseUrl = '') {
  const session = {
    access: null,
    refresh: sessionStorage.getItem('obol.refresh'),
  };

  async function raw(method, path, body, opts = {}) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (session.access && !opts.anonymous) headers.authorization = `Bearer ${session.access}`;
    // Every POST carries an idempotency key: a retried click never pays twice.
    if (method === 'POST') headers['idempotency-key'] = opts.idempotencyKey ?? newKey();
    const response = await fetch(baseUrl + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const error = data?.error ?? {};
      throw new ApiError(response.status, error.code ?? 'http_error', error.message ?? response.statusText, error.param);
    }
    return data;
  }

  function remember(tokens) {
    session.access = tokens.access_token;
    session.refresh = tokens.refresh_token;
    sessionStorage.setItem('obol.refresh', tokens.refresh_token);
    return tokens;
  }

  return {
    kind: 'http',
    async login(email, password) {
      return remember(await raw('POST', '/v1/auth/login', { email, password }, { anonymous: true }));
    },
    async resume() {
      if (!session.refresh) return false;
      try {
        remember(await raw('POST', '/v1/auth/refresh', { refresh_token: session.refresh }, { anonymous: true }));
        return true;
      } catch {
        this.forget();
        return false;
      }
    },
    async logout() {
      if (session.refresh) {
        await raw('POST', '/v1/auth/logout', { refresh_token: session.refresh }, { anonymous: true }).catch(() => {});
      }
      this.forget();
    },
    forget() {
      session.access = null;
      session.refresh = null;
      sessionStorage.removeItem('obol.refresh');
    },
    signedIn() {
      return session.access !== null;
    },
    async request(method, path, body, opts) {
      try {
        return await raw(method, path, body, opts);
      } catch (error) {
        if (error.status === 401 && session.refresh && (await this.resume())) {
          return raw(method, path, body, opts);
        }
        throw error;
      }
    },
  };
}

// The transport for this page: Tauri's bridge when the desktop app hosts it, else HTTP.
export function defaultTransport() {
  if (globalThis.__OBOL_TRANSPORT__) return globalThis.__OBOL_TRANSPORT__;
  return httpTransport('');
}
