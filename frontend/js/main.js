// Boot and navigation: read the token, ask the app for its status, show the right view.

import { api, initToken } from './api.js';
import { followJob, progressText } from './jobs.js';
import { h, mount } from './dom.js';
import { showDismissals } from './dismissals.js';
import { showHistory } from './history.js';
import { showReview } from './review.js';
import { showSettings } from './settings.js';
import { app, applyTheme, rememberedFilter, reportRendered } from './state.js';
import { renderSummary } from './summary.js';
import { helpOverlay, setGlobalKey, setViewKeys, toast } from './ui.js';
import { showWelcome } from './welcome.js';

const views = {
  welcome: showWelcome,
  review: showReview,
  history: showHistory,
  dismissals: showDismissals,
  settings: showSettings,
};

async function navigate(name) {
  // The view being left may hold unsaved edits (Settings): it may ask to stay.
  if (app.beforeLeave && !(await app.beforeLeave())) return;
  app.beforeLeave = null;
  const view = document.getElementById('view');
  const needsDatabase = name === 'review';
  if (needsDatabase && !app.status?.database) name = 'welcome';
  setViewKeys(null);
  app.reloadGroups = async () => {}; // the review sets its own while shown
  if (app.settings) applyTheme(app.settings.theme); // drop an unsaved theme preview
  document.getElementById('tabs').hidden = name === 'welcome';
  for (const tab of document.querySelectorAll('#tabs .tab')) {
    tab.classList.toggle('active', tab.dataset.view === name);
    tab.setAttribute('aria-current', tab.dataset.view === name ? 'page' : 'false');
  }
  if (name === 'welcome') renderSummary(null);
  try {
    await views[name](view);
  } catch (error) {
    mount(view, h('div', { class: 'error-panel', role: 'alert' }, error.message));
  }
}

async function refreshStatus() {
  app.status = await api.status();
  renderBanners(app.status);
  if (app.status.presence_job) watchPresence(app.status.presence_job);
  return app.status;
}

/** What the user must know about the open library before trusting the groups. */
function renderBanners(status, checking = null) {
  const warnings = status.database?.warnings || [];
  mount(document.getElementById('banners'), warnings.map((warning) =>
    h('div', { class: 'banner banner-warn' }, warning)), checking
    ? h('div', { class: 'banner banner-info', id: 'presence-progress' },
      `Looking for the library's files on disk… ${progressText(checking)}`)
    : missingFilesBanner(status.database));
}

/** "N of M files were not found at their paths", why that happens, and where to fix it. */
function missingFilesBanner(database) {
  if (!database?.missing_files) return null;
  const missing = database.missing_files.toLocaleString();
  const checked = database.checked_files.toLocaleString();
  return h('div', { class: 'banner banner-warn', id: 'missing-files-banner', role: 'alert' },
    h('b', {}, `${missing} of ${checked} files were not found at their paths. `),
    'The media may have moved since Stash last scanned it, or Stash runs in Docker or on a '
    + 'NAS and sees other paths than this machine. Missing files are left out of every '
    + 'count and cannot be removed. ',
    h('button', { type: 'button', class: 'link-button', id: 'open-path-mappings',
      onClick: async () => {
        await navigate('settings');
        document.getElementById('path-mappings')?.scrollIntoView({ block: 'center' });
      } }, 'Set up path mappings'));
}

let watchedPresence = null;

/** Follow the missing-files check of a newly opened library, then show what it found. */
async function watchPresence(jobId) {
  if (watchedPresence === jobId) return;
  watchedPresence = jobId;
  try {
    const job = await followJob(jobId, (progress) => {
      if (!['done', 'failed', 'cancelled'].includes(progress.state)) {
        renderBanners(app.status, progress);
      }
    }, { intervalMs: 300 });
    if (job.state === 'failed') toast(`Looking for the files failed: ${job.message}`, 'error');
  } catch (error) {
    toast(error.message, 'error');
  }
  app.status = await api.status();
  renderBanners(app.status);
  await app.reloadGroups();
}

async function loadSettings() {
  const data = await api.settings();
  app.settings = data.settings;
  app.keeperRules = data.keeper_rules;
  app.codecs = data.codecs;
  applyTheme(app.settings.theme);
  return app.settings;
}

function showNoToken() {
  mount(document.getElementById('view'),
    h('div', { class: 'welcome' },
      h('h1', {}, 'This page needs its access link'),
      h('p', {}, 'Open the address that stash-dedupe printed when it started: it ends with '
        + '?token=…, the key that lets this page talk to the app.')));
  reportRendered({ view: 'no-token' });
}

async function boot() {
  if (!initToken()) {
    showNoToken();
    return;
  }
  try {
    await Promise.all([refreshStatus(), loadSettings()]);
  } catch (error) {
    mount(document.getElementById('view'),
      h('div', { class: 'error-panel', role: 'alert' }, error.message));
    return;
  }
  app.filter = rememberedFilter(app.settings);
  app.navigate = navigate;
  app.refreshStatus = refreshStatus;
  app.reloadSettings = loadSettings;
  for (const tab of document.querySelectorAll('#tabs .tab')) {
    tab.addEventListener('click', () => navigate(tab.dataset.view));
  }
  document.getElementById('help-button').addEventListener('click', helpOverlay);
  setGlobalKey('?', helpOverlay);
  if (app.status.recovered) {
    toast(`Recovered ${app.status.recovered} removal step(s) interrupted last time; `
      + 'see History.', 'info', 8000);
  }
  await navigate(app.status.database ? 'review' : 'welcome');
}

boot();
