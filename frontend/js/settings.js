// Settings: database, path mappings, defaults for the review, removal, keeper rules, theme.

import { api, whenWindowApi } from './api.js';
import { h, mount } from './dom.js';
import { app, applyTheme, defaultFilter } from './state.js';
import { forgetStashConnection, stashSettingsPanel } from './stash.js';
import { toast } from './ui.js';

export async function showSettings(view) {
  await app.reloadSettings();
  const draft = structuredClone(app.settings);
  const error = h('p', { class: 'inline-error', role: 'alert', id: 'settings-error', hidden: true });
  const rulesBox = h('div', { class: 'rules', id: 'keeper-rules' });
  const codecsBox = h('div', { class: 'rules', id: 'codec-order' });
  const mappingsBox = h('div', { class: 'mappings', id: 'path-mappings' });
  const foldersBox = h('div', { class: 'folders', id: 'preferred-folders' });
  const protectedBox = h('div', { class: 'folders', id: 'protected-folders' });
  const windowApi = await whenWindowApi(500);

  const text = (key, props = {}) => h('input', { type: 'text', class: 'path-input',
    value: draft[key] ?? '', spellcheck: 'false', id: `setting-${key}`, ...props,
    onInput: (event) => { draft[key] = event.target.value.trim() || null; } });
  const browse = (target, picker) => (windowApi ? h('button', { type: 'button', class: 'button',
    onClick: async () => {
      const chosen = await windowApi[picker]();
      if (chosen) {
        target.value = chosen;
        target.dispatchEvent(new Event('input'));
      }
    } }, 'Browse…') : null);

  /** An ordered list of names the user reorders, drops and adds to from `choices`. */
  function renderOrdered(box, key, choices, { item, addId, addLabel }) {
    const render = () => renderOrdered(box, key, choices, { item, addId, addLabel });
    const list = draft[key];
    const labels = Object.fromEntries(choices.map((choice) => [choice.name, choice.label]));
    const unused = choices.filter((choice) => !list.includes(choice.name));
    const move = (index, by) => {
      [list[index], list[index + by]] = [list[index + by], list[index]];
      render();
    };
    mount(box,
      h('ol', { class: 'rule-list' }, list.map((name, index) => h('li', {
        dataset: { [item]: name } },
      h('span', { class: 'rule-label' }, labels[name] || name),
      h('button', { type: 'button', class: 'icon-button', title: 'Earlier', disabled: index === 0,
        onClick: () => move(index, -1) }, '↑'),
      h('button', { type: 'button', class: 'icon-button', title: 'Later',
        disabled: index === list.length - 1, onClick: () => move(index, 1) }, '↓'),
      h('button', { type: 'button', class: 'icon-button', title: 'Drop',
        onClick: () => { list.splice(index, 1); render(); } }, '×')))),
      unused.length ? h('select', { id: addId, 'aria-label': addLabel, onChange: (event) => {
        if (!event.target.value) return;
        list.push(event.target.value);
        render();
      } }, h('option', { value: '' }, addLabel),
      unused.map((choice) => h('option', { value: choice.name }, choice.label))) : null);
  }

  const renderRules = () => renderOrdered(rulesBox, 'keeper_rules', app.keeperRules,
    { item: 'rule', addId: 'add-rule', addLabel: 'Add a rule…' });
  const renderCodecs = () => renderOrdered(codecsBox, 'codec_order', app.codecs,
    { item: 'codec', addId: 'add-codec', addLabel: 'Add a codec…' });

  function renderMappings() {
    mount(mappingsBox,
      draft.path_mappings.map((mapping, index) => h('div', { class: 'field-row' },
        h('input', { type: 'text', class: 'path-input', placeholder: 'Stash sees: /data',
          value: mapping.stash_prefix, onInput: (event) => {
            mapping.stash_prefix = event.target.value.trim();
          } }),
        h('span', {}, '→'),
        h('input', { type: 'text', class: 'path-input', placeholder: 'here it is: /mnt/nas',
          value: mapping.local_prefix, onInput: (event) => {
            mapping.local_prefix = event.target.value.trim();
          } }),
        h('button', { type: 'button', class: 'icon-button', title: 'Remove this mapping',
          onClick: () => { draft.path_mappings.splice(index, 1); renderMappings(); } }, '×'))),
      h('button', { type: 'button', class: 'button', id: 'add-mapping', onClick: () => {
        draft.path_mappings.push({ stash_prefix: '', local_prefix: '' });
        renderMappings();
      } }, 'Add mapping'));
  }

  /** A list of folders (`draft[key]`) to edit, add to and remove from. */
  function renderFolders(box = foldersBox, key = 'preferred_folders') {
    const render = () => renderFolders(box, key);
    mount(box,
      draft[key].map((folder, index) => h('div', { class: 'field-row' },
        h('input', { type: 'text', class: 'path-input', value: folder, spellcheck: 'false',
          'aria-label': `Folder ${index + 1}`, onInput: (event) => {
            draft[key][index] = event.target.value.trim();
          } }),
        h('button', { type: 'button', class: 'icon-button', title: 'Remove',
          onClick: () => { draft[key].splice(index, 1); render(); } }, '×'))),
      h('button', { type: 'button', class: 'button', id: `add-${key.replace('_', '-')}`,
        onClick: () => {
          draft[key].push('');
          render();
        } }, 'Add folder'));
  }

  const database = text('database');
  const trashDir = text('trash_dir', { placeholder: 'A folder for "move" mode' });
  const field = (label, control, help) => h('div', { class: 'field' },
    h('label', {}, label), h('div', { class: 'field-control' }, control,
      help ? h('div', { class: 'muted small' }, help) : null));

  mount(view, h('form', { class: 'page settings', id: 'settings-form', novalidate: true,
    onSubmit: save },
    h('div', { class: 'page-header' }, h('h1', {}, 'Settings'),
      h('button', { type: 'submit', class: 'button button-primary', id: 'save-settings' },
        'Save')),
    error,
    h('section', { class: 'panel' }, h('h2', {}, 'Library'),
      field('Stash database', h('div', { class: 'field-row' }, database,
        browse(database, 'pick_database'))),
      field('Path mappings', mappingsBox, 'When Stash sees the files at other paths than this '
        + 'machine (Docker, a NAS share): rewrite the start of each path.')),
    h('section', { class: 'panel' }, h('h2', {}, 'Review'),
      field('Default distance', h('input', { type: 'number', min: 0, max: 16, class: 'narrow',
        id: 'setting-default_distance', value: String(draft.default_distance),
        onInput: (event) => { draft.default_distance = Number(event.target.value); } }),
      'Exact 0, High 4, Medium 8, Low 10.'),
      field('Duration tolerance', h('input', { type: 'number', min: 0, step: 0.5,
        class: 'narrow', id: 'setting-duration_tolerance',
        value: draft.duration_tolerance ?? '', placeholder: 'any',
        onInput: (event) => {
          draft.duration_tolerance = event.target.value === '' ? null
            : Number(event.target.value);
        } }), 'Seconds two videos may differ by; empty means any.'),
      field('Frames to compare', h('input', { type: 'number', min: 1, max: 49, class: 'narrow',
        value: String(draft.frame_samples),
        onInput: (event) => { draft.frame_samples = Number(event.target.value); } }))),
    h('section', { class: 'panel' }, h('h2', {}, 'Which file to keep'),
      field('Keeper rules', rulesBox, 'Applied in order: each rule keeps the best files by it, '
        + 'the next one breaks ties. Resolutions within 1% and bit rates within 10% tie; a '
        + 'video\'s black bars stop counting as resolution once its frames were compared. '
        + 'Stash metadata rules read the file\'s scene or image.'),
      field('Preferred folders', foldersBox, 'Used by the "In a preferred folder" rule; '
        + 'earlier folders win.'),
      field('Preferred codecs', codecsBox, 'Used by the "Preferred codec" rule; earlier codecs '
        + 'win, codecs not listed rank last.'),
      field('Protected folders', protectedBox, 'Files in these folders are never suggested '
        + 'for removal, and removing them is refused (as this computer sees the paths).')),
    h('section', { class: 'panel' }, h('h2', {}, 'Removal'),
      field('Default mode', h('select', { id: 'setting-removal_mode',
        onChange: (event) => { draft.removal_mode = event.target.value; } },
      [['trash', 'Move to the system trash'], ['move', 'Move to a trash folder'],
        ['delete', 'Delete permanently']].map(([value, label]) => h('option', { value,
        selected: draft.removal_mode === value }, label)))),
      field('Trash folder', h('div', { class: 'field-row' }, trashDir,
        browse(trashDir, 'pick_folder')), 'Files keep their full path below it.')),
    stashSettingsPanel(draft, field),
    h('section', { class: 'panel' }, h('h2', {}, 'Appearance'),
      field('Theme', h('select', { id: 'setting-theme', onChange: (event) => {
        draft.theme = event.target.value;
        applyTheme(draft.theme);
      } }, [['dark', 'Dark'], ['light', 'Light']].map(([value, label]) => h('option',
        { value, selected: draft.theme === value }, label)))))));
  renderRules();
  renderCodecs();
  renderMappings();
  renderFolders();
  renderFolders(protectedBox, 'protected_folders');

  async function save(event) {
    event.preventDefault();
    error.hidden = true;
    const changes = { ...draft };
    changes.path_mappings = draft.path_mappings.filter((m) => m.stash_prefix || m.local_prefix);
    changes.preferred_folders = draft.preferred_folders.filter(Boolean);
    changes.protected_folders = draft.protected_folders.filter(Boolean);
    try {
      const result = await api.saveSettings(changes);
      const databaseChanged = result.settings.database !== app.settings.database;
      app.settings = result.settings;
      forgetStashConnection();
      applyTheme(app.settings.theme);
      app.filter = { ...defaultFilter(app.settings), media: app.filter.media };
      await app.refreshStatus();
      toast('Settings saved.', 'good');
      if (databaseChanged) app.navigate('review');
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      error.scrollIntoView({ block: 'nearest' });
    }
  }
}
