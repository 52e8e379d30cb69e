// The one client of the app's JSON API, and the only module that names its URLs: views call
// the endpoint functions of `api` below. Every call carries the launch's token, which the
// page receives once in its URL (?token=...) and keeps in sessionStorage; URLs for <img>,
// <video> and downloads (the ...Url functions) carry it as ?token=.

const TOKEN_KEY = 'stash-dedupe-token';

export class ApiError extends Error {
  /** `field`: the input at fault when the API names one (e.g. "path_mappings.0.local_prefix"). */
  constructor(message, status, field = null) {
    super(message);
    this.status = status;
    this.field = field;
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
      response.status, (data && data.field) || null);
  }
  return data;
}

/** A path with each interpolated value encoded as one URL segment. */
function path(strings, ...values) {
  return strings.reduce((text, part, index) => text + encodeURIComponent(values[index - 1])
    + part);
}

const get = (url, params) => request('GET', url, { params });
const post = (url, body, params) => request('POST', url, { body: body ?? {}, params });
/** A URL usable where no header can be sent: <img>, <video>, downloads. */
const withToken = (url) => url + query({ token: token() });

/** The review's filter (state.js) as the query the API reads. */
function filterQuery(filter) {
  return {
    media: filter.media,
    distance: filter.distance,
    duration: filter.duration === '' ? 'any' : filter.duration,
    path: filter.path || undefined,
    min_size: filter.min_size,
    suspicious: filter.suspicious ? 1 : undefined,
    duration_percent: filter.duration_percent === '' ? undefined : filter.duration_percent,
    sort: filter.sort || undefined,
    studio: filter.studio || undefined,
    performer: filter.performer || undefined,
    tag: filter.tag || undefined,
    organized: filter.organized || undefined,
    missing: filter.missing ? 1 : undefined,
  };
}

export const api = {
  // -- the library and the settings --
  status: () => get('/api/status'),
  databaseCandidates: () => get('/api/databases/candidates'),
  openDatabase: (databasePath) => post('/api/database', { path: databasePath }),
  settings: () => get('/api/settings'),
  saveSettings: (changes) => request('PUT', '/api/settings', { body: changes }),
  /** How many library files each path mapping (as typed, unsaved) maps, and finds. */
  previewPathMappings: (mappings) => post('/api/path-mappings/preview',
    { path_mappings: mappings }),

  // -- review: groups and dismissals --
  summary: (filter) => get('/api/summary', filterQuery(filter)),
  groups: (filter, { offset, limit }) => get('/api/groups',
    { ...filterQuery(filter), offset, limit }),
  group: (groupId) => get(path`/api/groups/${groupId}`),
  groupLosses: (groupId, keepIds) => post(path`/api/groups/${groupId}/losses`,
    { keep: keepIds }),
  dismissGroup: (groupId) => post(path`/api/groups/${groupId}/dismiss`),
  dismissFile: (groupId, fileId) => post(path`/api/files/${fileId}/dismiss`,
    { group_id: groupId }),
  dismissals: () => get('/api/dismissals'),
  undoDismissal: (dismissalId) => request('DELETE', path`/api/dismissals/${dismissalId}`),
  /** The filter's groups as a download: `format` is csv or json. */
  exportUrl: (filter, format) => path`/api/export/groups.${format}`
    + query({ ...filterQuery(filter), token: token() }),
  /** The byte-identical groups of the filter and the plan accepting their suggestions. */
  identicalPreview: (filter) => post('/api/identical/preview', {}, filterQuery(filter)),

  // -- overlaps: videos sharing footage (a pair's removal goes through `remove`) --
  overlaps: (minOverlap) => get('/api/overlaps', { min_overlap: minOverlap }),
  overlap: (pairId) => get(path`/api/overlaps/${pairId}`),
  computeFingerprints: () => post('/api/overlaps/fingerprints'),
  compareOverlapFrames: (pairId) => post(path`/api/overlaps/${pairId}/frames`),

  // -- files, by Stash file id --
  thumbnailUrl: (fileId) => withToken(path`/api/files/${fileId}/thumbnail`),
  mediaUrl: (fileId) => withToken(path`/api/files/${fileId}/media`),
  compareImages: (firstId, secondId) => get(path`/api/files/${firstId}/compare/${secondId}`),
  imageDifferenceUrl: (firstId, secondId) =>
    withToken(path`/api/files/${firstId}/difference/${secondId}`),

  // -- removal and its history --
  /** `mode`: trash, move (into `trashDir`), delete (only with `confirmDelete`) or hardlink. */
  remove: (plan, { mode, trashDir, confirmDelete }) => post('/api/remove',
    { plan, mode, trash_dir: trashDir, confirm_delete: confirmDelete }),
  history: () => get('/api/history'),
  historyCsvUrl: () => withToken('/api/history.csv'),
  batch: (batchId) => get(path`/api/history/${batchId}`),
  undoBatch: (batchId) => post(path`/api/history/${batchId}/undo`),

  // -- long work: each starts a job, followed with `job` --
  compareFrames: (groupId) => post(path`/api/groups/${groupId}/frames`),
  frameUrl: (jobId, fileIndex, frameIndex) =>
    withToken(path`/api/frames/${jobId}/${fileIndex}/${frameIndex}.jpg`),
  frameDifferenceUrl: (jobId, firstIndex, secondIndex, frameIndex) =>
    withToken(path`/api/frames/${jobId}/diff/${firstIndex}/${secondIndex}/${frameIndex}.jpg`),
  autoResolve: (filter, threshold) => post('/api/autoresolve', { threshold },
    filterQuery(filter)),
  backfill: () => post('/api/backfill', { media: 'all' }),
  job: (jobId) => get(path`/api/jobs/${jobId}`),
  pauseJob: (jobId) => post(path`/api/jobs/${jobId}/pause`),
  resumeJob: (jobId) => post(path`/api/jobs/${jobId}/resume`),
  cancelJob: (jobId) => post(path`/api/jobs/${jobId}/cancel`),

  // -- Stash, over its API --
  /** Stash's version; `unsaved` ({ url, apiKey }) tries the settings form's values. */
  stashVersion: (unsaved) => post('/api/stash/test', unsaved
    ? { stash_url: unsaved.url, stash_api_key: unsaved.apiKey } : {}),
  stashCleanupPreview: (batchId) => post('/api/stash/cleanup/preview', { batch_id: batchId }),
  stashCleanup: (batchId) => post('/api/stash/cleanup/apply', { batch_id: batchId }),
  stashMergePreview: (groupId, keeperFileId) => post('/api/stash/merge/preview',
    { group_id: groupId, keeper_file_id: keeperFileId }),
  stashMerge: (groupId, keeperFileId) => post('/api/stash/merge/apply',
    { group_id: groupId, keeper_file_id: keeperFileId }),
  sendPhashes: () => post('/api/stash/phashes'),
  /** Open a page of the user's Stash in the system browser (from the window). */
  openUrl: (url) => post('/api/open-url', { url }),
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
