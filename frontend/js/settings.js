// Settings: database, path mappings, defaults for the review, removal, keeper rules, theme.

import { api, whenWindowApi } from './api.js';
import { debounce, h, mount } from './dom.js';
import { app, applyTheme, defaultFilter } from './state.js';
import { forgetStashConnection, stashSettingsPanel } from './stash.js';
import { toast } from './ui.js';

export async function showSettings(view) {
  await app.reloadSettings();
  const draft = structuredClone(app.settings);
  const error = h('p', { class: 'inline-error', role: 'alert', id: 'settings-error', hidden: true });
  const rulesBox = h('div', { class: 'rules', id: 'keeper-rules' });
  const mappingsBox = h('div', { class: 'mappings', id: 'path-mappings' });
  const foldersBox = h('div', { class: 'folders', id: 'preferred-folders' });
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

  function renderRules() {
    const labels = Object.fromEntries(app.keeperRules.map((rule) => [rule.name, rule.label]));
    const unused = app.keeperRules.filter((rule) => !draft.keeper_rules.includes(rule.name));
    const move = (index, by) => {
      const rules = draft.keeper_rules;
      [rules[index], rules[index + by]] = [rules[index + by], rules[index]];
      renderRules();
    };
    mount(rulesBox,
      h('ol', { class: 'rule-list' }, draft.keeper_rules.map((name, index) => h('li', {
        dataset: { rule: name } },
      h('span', { class: 'rule-label' }, labels[name] || name),
      h('button', { type: 'button', class: 'icon-button', title: 'Earlier', disabled: index === 0,
        onClick: () => move(index, -1) }, '↑'),
      h('button', { type: 'button', class: 'icon-button', title: 'Later',
        disabled: index === draft.keeper_rules.length - 1, onClick: () => move(index, 1) }, '↓'),
      h('button', { type: 'button', class: 'icon-button', title: 'Drop this rule',
        onClick: () => { draft.keeper_rules.splice(index, 1); renderRules(); } }, '×')))),
      unused.length ? h('select', { id: 'add-rule', onChange: (event) => {
        if (!event.target.value) return;
        draft.keeper_rules.push(event.target.value);
        renderRules();
      } }, h('option', { value: '' }, 'Add a rule…'),
      unused.map((rule) => h('option', { value: rule.name }, rule.label))) : null);
  }

  // Under each mapping: how many library files it maps and how many of those exist, asked
  // of the app as the user types (before saving).
  const mappingNotes = [];
  const previewMappings = debounce(async () => {
    if (!app.status?.database) return;
    let answer;
    try {
      answer = await api.previewPathMappings(draft.path_mappings);
    } catch (failure) {
      for (const note of mappingNotes) mount(note, h('span', { class: 'inline-error' },
        failure.message));
      return;
    }
    answer.mappings.forEach((preview, index) => {
      const note = mappingNotes[index];
      if (!note) return;
      const complete = draft.path_mappings[index].stash_prefix
        && draft.path_mappings[index].local_prefix;
      mount(note, !complete ? 'Fill in both sides to see what this mapping finds.'
        : h('span', { class: preview.mapped_files && preview.present_files
          === preview.mapped_files ? 'good' : 'warn' },
        `Maps ${preview.mapped_files.toLocaleString()} library files; `
          + `${preview.present_files.toLocaleString()} of them exist here`
          + (preview.sample_path ? ` (e.g. ${preview.sample_path})` : '')));
    });
  }, 300);

  function renderMappings() {
    mappingNotes.length = 0;
    mount(mappingsBox,
      draft.path_mappings.map((mapping, index) => {
        const note = h('div', { class: 'mapping-preview muted small',
          id: `mapping-preview-${index}`, 'aria-live': 'polite' });
        mappingNotes.push(note);
        return h('div', { class: 'mapping' }, h('div', { class: 'field-row' },
          h('input', { type: 'text', class: 'path-input', placeholder: 'Stash sees: /data',
            'aria-label': `Mapping ${index + 1}: the path Stash sees`,
            value: mapping.stash_prefix, onInput: (event) => {
              mapping.stash_prefix = event.target.value.trim();
              previewMappings();
            } }),
          h('span', {}, '→'),
          h('input', { type: 'text', class: 'path-input', placeholder: 'here it is: /mnt/nas',
            'aria-label': `Mapping ${index + 1}: the path on this machine`,
            value: mapping.local_prefix, onInput: (event) => {
              mapping.local_prefix = event.target.value.trim();
              previewMappings();
            } }),
          h('button', { type: 'button', class: 'icon-button', title: 'Remove this mapping',
            onClick: () => { draft.path_mappings.splice(index, 1); renderMappings(); } }, '×')),
        note);
      }),
      h('button', { type: 'button', class: 'button', id: 'add-mapping', onClick: () => {
        draft.path_mappings.push({ stash_prefix: '', local_prefix: '' });
        renderMappings();
      } }, 'Add mapping'));
    previewMappings();
  }

  function renderFolders() {
    mount(foldersBox,
      draft.preferred_folders.map((folder, index) => h('div', { class: 'field-row' },
        h('input', { type: 'text', class: 'path-input', value: folder, onInput: (event) => {
          draft.preferred_folders[index] = event.target.value.trim();
        } }),
        h('button', { type: 'button', class: 'icon-button', title: 'Remove',
          onClick: () => { draft.preferred_folders.splice(index, 1); renderFolders(); } }, '×'))),
      h('button', { type: 'button', class: 'button', onClick: () => {
        draft.preferred_folders.push('');
        renderFolders();
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
        + 'the next one breaks ties. Resolutions within 1% tie; a video\'s black bars stop '
        + 'counting as resolution once its frames were compared.'),
      field('Preferred folders', foldersBox, 'Used by the "In a preferred folder" rule; '
        + 'earlier folders win.')),
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
  renderMappings();
  renderFolders();

  async function save(event) {
    event.preventDefault();
    error.hidden = true;
    const changes = { ...draft };
    changes.path_mappings = draft.path_mappings.filter((m) => m.stash_prefix || m.local_prefix);
    changes.preferred_folders = draft.preferred_folders.filter(Boolean);
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
