// Boot and navigation: read the token, ask the app for its status, show the right view.

import { api, initToken } from './api.js';
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
  return app.status;
}

/** What the user must know about the open library before trusting the groups. */
function renderBanners(status) {
  const warnings = status.database?.warnings || [];
  mount(document.getElementById('banners'), warnings.map((warning) =>
    h('div', { class: 'banner banner-warn' }, warning)));
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
