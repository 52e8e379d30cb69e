// What the views share: the app's status and settings, the current filter, and a few hooks
// that main.js fills in (so views need not import main.js).

import { whenWindowApi } from './api.js';

export const app = {
  status: null,
  settings: null,
  keeperRules: [],
  codecs: [],
  filter: null,
  lastBatchId: null,
  removedPaths: [],
  // Set by a view with unsaved edits: resolves true when it may be left.
  beforeLeave: null,
  // Filled in by main.js:
  navigate: async () => {},
  refreshStatus: async () => {},
  reloadSettings: async () => {},
  // Filled in by review.js while it is shown: reload the groups (files were found missing).
  reloadGroups: async () => {},
};

export const DISTANCE_PRESETS = [
  { value: 0, label: 'Exact (0)' },
  { value: 4, label: 'High (4)' },
  { value: 8, label: 'Medium (8)' },
  { value: 10, label: 'Low (10)' },
];

export const DURATION_PRESETS = [
  { value: '', label: 'Any duration' },
  { value: '0', label: 'Equal duration' },
  { value: '1', label: '± 1 s' },
  { value: '5', label: '± 5 s' },
  { value: '10', label: '± 10 s' },
];

export function defaultFilter(settings) {
  const tolerance = settings?.duration_tolerance;
  return {
    media: 'video',
    distance: settings?.default_distance ?? 8,
    duration: tolerance === null || tolerance === undefined ? '' : String(tolerance),
    path: '',
    min_size: 2,
    suspicious: false,
  };
}

// The review's filter survives a reload of the page; each value is checked when read back,
// so a stale or hand-edited entry falls back to the settings' default, never breaks the page.
const FILTER_KEY = 'stash-dedupe-filter';
const FILTER_CHECKS = {
  media: (value) => value === 'video' || value === 'image',
  distance: (value) => Number.isInteger(value) && value >= 0 && value <= 16,
  duration: (value) => value === '' || (typeof value === 'string' && value.trim() !== ''
    && Number.isFinite(Number(value)) && Number(value) >= 0),
  path: (value) => typeof value === 'string' && value.length <= 4096,
  min_size: (value) => Number.isInteger(value) && value >= 2,
  suspicious: (value) => typeof value === 'boolean',
};

/** The filter the user last chose on this page (each valid value), else the defaults. */
export function rememberedFilter(settings) {
  const filter = defaultFilter(settings);
  let saved = null;
  try {
    saved = JSON.parse(localStorage.getItem(FILTER_KEY) || 'null');
  } catch {
    saved = null; // not JSON: forget it
  }
  if (!saved || typeof saved !== 'object' || Array.isArray(saved)) return filter;
  for (const [key, valid] of Object.entries(FILTER_CHECKS)) {
    if (Object.hasOwn(saved, key) && valid(saved[key])) filter[key] = saved[key];
  }
  return filter;
}

/** Keep `filter` for the next load of the page. */
export function rememberFilter(filter) {
  const kept = Object.fromEntries(Object.keys(FILTER_CHECKS).map((key) => [key, filter[key]]));
  try {
    localStorage.setItem(FILTER_KEY, JSON.stringify(kept));
  } catch {
    // Storage full or disabled: the filter is simply not remembered.
  }
}

export function applyTheme(theme) {
  document.documentElement.dataset.theme = theme === 'light' ? 'light' : 'dark';
}

let reported = false;

/** Tell tests (and the window) that a view finished its first render. */
export function reportRendered(info) {
  document.body.dataset.rendered = info.view;
  if (reported) return;
  reported = true;
  whenWindowApi().then((windowApi) => windowApi?.page_rendered?.(info)).catch(() => {});
}
