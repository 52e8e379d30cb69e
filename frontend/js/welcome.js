// First run: choose the Stash database (found candidates, the native Open dialog, or a path).

import { api, whenWindowApi } from './api.js';
import { h, mount } from './dom.js';
import { app, reportRendered } from './state.js';

export async function showWelcome(view) {
  const error = h('p', { class: 'inline-error', role: 'alert', id: 'open-error' },
    app.status?.open_error || '');
  error.hidden = !app.status?.open_error;
  const pathInput = h('input', { type: 'text', id: 'database-path', class: 'path-input',
    placeholder: '/home/you/.stash/stash-go.sqlite', spellcheck: 'false',
    value: app.status?.settings_database || '' });
  const openButton = h('button', { type: 'submit', class: 'button button-primary',
    id: 'open-path' }, 'Open');
  const pickButton = h('button', { type: 'button', class: 'button', id: 'pick-database',
    hidden: true, onClick: pick }, 'Open file…');
  const candidateList = h('ul', { class: 'candidates', id: 'candidates' },
    h('li', { class: 'muted' }, 'Looking in the usual places…'));

  async function open(path) {
    error.hidden = true;
    openButton.disabled = true;
    try {
      await api.openDatabase(path);
      await app.refreshStatus();
      await app.reloadSettings();
      app.navigate('review');
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
    } finally {
      openButton.disabled = false;
    }
  }

  async function pick() {
    const windowApi = await whenWindowApi();
    const chosen = await windowApi?.pick_database();
    if (chosen) {
      pathInput.value = chosen;
      open(chosen);
    }
  }

  mount(view, h('div', { class: 'welcome' },
    h('h1', {}, 'Find duplicates in your Stash library'),
    h('p', { class: 'lead' }, 'Choose Stash\'s database (stash-go.sqlite). It is opened read-only: '
      + 'nothing in Stash changes until you remove files, and removed files go to the trash.'),
    h('section', { class: 'panel' },
      h('h2', {}, 'Found on this machine'),
      candidateList),
    h('section', { class: 'panel' },
      h('h2', {}, 'Another database'),
      h('form', { class: 'open-form', onSubmit: (event) => {
        event.preventDefault();
        if (pathInput.value.trim()) open(pathInput.value.trim());
      } }, pathInput, openButton, pickButton),
      error)));

  whenWindowApi().then((windowApi) => {
    if (windowApi) pickButton.hidden = false;
  });

  try {
    const { candidates } = await api.databaseCandidates();
    mount(candidateList, candidates.length ? candidates.map((candidate) => h('li', {
      class: `candidate ${candidate.error ? 'candidate-bad' : ''}` },
    h('div', { class: 'candidate-text' },
      h('div', { class: 'candidate-path' }, candidate.path),
      h('div', { class: 'muted small' }, candidate.source,
        candidate.schema_version ? ` · schema ${candidate.schema_version}` : ''),
      candidate.error ? h('div', { class: 'inline-error small' }, candidate.error) : null),
    h('button', { type: 'button', class: 'button', disabled: Boolean(candidate.error),
      onClick: () => open(candidate.path) }, 'Open')))
      : h('li', { class: 'muted' }, 'No Stash database in ~/.stash, Stash\'s config or this '
        + 'folder. Give its path below.'));
  } catch (failure) {
    mount(candidateList, h('li', { class: 'inline-error' }, failure.message));
  }
  reportRendered({ view: 'welcome' });
}
