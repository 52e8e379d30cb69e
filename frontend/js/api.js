// The one client of the app's JSON API. Every call carries the launch's token, which the
// page receives once in its URL (?token=...) and keeps in sessionStorage.

const TOKEN_KEY = 'stash-dedupe-token';

export class ApiError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

/** Take the token from the URL (then hide it from the address bar) or from sessionStorage. */
export function initToken() {
  const params = new URLSearchParams(location.search);
  const fromUrl = params.get('token');
  if (fromUrl) {
    sessionStorage.setItem(TOKEN_KEY, fromUrl);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

async function request(method, path, { params, body } = {}) {
  const headers = { 'X-Token': token() };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let response;
  try {
    response = await fetch(path + query(params), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError('The app does not answer: is it still running?', 0);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError((data && data.error) || `${response.status} ${response.statusText}`,
      response.status);
  }
  return data;
}

export const api = {
  get: (path, params) => request('GET', path, { params }),
  post: (path, body, params) => request('POST', path, { body: body ?? {}, params }),
  put: (path, body) => request('PUT', path, { body }),
  del: (path) => request('DELETE', path),
  /** A URL usable where no header can be sent: <img>, <video>, downloads. */
  url: (path, params) => path + query({ ...params, token: token() }),
};

/** The window's Python side (pywebview js_api), or null in a browser. */
export function windowApi() {
  return window.pywebview && window.pywebview.api ? window.pywebview.api : null;
}

/** Resolves with the window's Python side once pywebview is ready, or null in a browser. */
export function whenWindowApi(timeoutMs = 3000) {
  if (windowApi() && windowApi().page_rendered) return Promise.resolve(windowApi());
  if (!('pywebview' in window) && !navigator.userAgent.includes('QtWebEngine')) {
    return Promise.resolve(null);
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(windowApi()), timeoutMs);
    window.addEventListener('pywebviewready', () => {
      clearTimeout(timer);
      resolve(windowApi());
    }, { once: true });
  });
}
