// What the views share: the app's status and settings, the current filter, and a few hooks
// that main.js fills in (so views need not import main.js).

import { whenWindowApi } from './api.js';

export const app = {
  status: null,
  settings: null,
  keeperRules: [],
  filter: null,
  lastBatchId: null,
  removedPaths: [],
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
    distance: settings?.default_distance ?? 0,
    duration: tolerance === null || tolerance === undefined ? '' : String(tolerance),
    path: '',
    min_size: 2,
    suspicious: false,
  };
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
