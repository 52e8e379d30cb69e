// Settings: database, path mappings, defaults for the review, removal, keeper rules, theme.

import { api, whenWindowApi } from './api.js';
import { debounce, h, mount } from './dom.js';
import { app, applyTheme, defaultFilter, rememberFilter } from './state.js';
import { forgetStashConnection, stashSettingsPanel } from './stash.js';
import { confirmDialog, toast } from './ui.js';

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
        return h('div', { class: 'mapping' }, h('div', { class: 'field-row',
          dataset: { field: `path_mappings.${index}` } },
          h('input', { type: 'text', class: 'path-input', placeholder: 'Stash sees: /data',
            'aria-label': `Mapping ${index + 1}: the folder as Stash sees it`,
            dataset: { field: `path_mappings.${index}.stash_prefix` },
            value: mapping.stash_prefix, onInput: (event) => {
              mapping.stash_prefix = event.target.value.trim();
              previewMappings();
            } }),
          h('span', {}, '→'),
          h('input', { type: 'text', class: 'path-input', placeholder: 'here it is: /mnt/nas',
            'aria-label': `Mapping ${index + 1}: the same folder on this computer`,
            dataset: { field: `path_mappings.${index}.local_prefix` },
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

  /** A list of folders (`draft[key]`) to edit, add to and remove from. */
  function renderFolders(box = foldersBox, key = 'preferred_folders', label = 'Preferred folder') {
    const render = () => renderFolders(box, key, label);
    mount(box,
      draft[key].map((folder, index) => h('div', { class: 'field-row',
        dataset: { field: `${key}.${index}` } },
        h('input', { type: 'text', class: 'path-input', value: folder, spellcheck: 'false',
          'aria-label': `${label} ${index + 1}`, onInput: (event) => {
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
  let labels = 0;
  /**
   * A labelled setting. The label names its input (for=, and data-field=the setting for error
   * marks); with `key`, the control is a list of inputs the label names as a group.
   */
  const field = (label, control, help, key = null) => {
    const input = control?.matches?.('input, select, textarea') ? control
      : control?.querySelector?.('input[id], select[id], textarea[id]');
    const labelId = `setting-label-${labels += 1}`;
    if (key) control.setAttribute('role', 'group');
    if (key) control.setAttribute('aria-labelledby', labelId);
    const name = key || (input?.id?.startsWith('setting-') ? input.id.slice(8) : null);
    return h('div', { class: 'field', dataset: name ? { field: name } : {} },
      label ? h('label', { id: labelId, for: !key && input?.id ? input.id : null }, label)
        : h('span'),
      h('div', { class: 'field-control' }, control,
        help ? h('div', { class: 'muted small' }, help) : null));
  };

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
        + 'machine (Docker, a NAS share): rewrite the start of each path.', 'path_mappings')),
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
        id: 'setting-frame_samples', value: String(draft.frame_samples),
        onInput: (event) => { draft.frame_samples = Number(event.target.value); } }))),
    h('section', { class: 'panel' }, h('h2', {}, 'Which file to keep'),
      field('Keeper rules', rulesBox, 'Applied in order: each rule keeps the best files by it, '
        + 'the next one breaks ties. Resolutions within 1% and bit rates within 10% tie; a '
        + 'video\'s black bars stop counting as resolution once its frames were compared. '
        + 'Stash metadata rules read the file\'s scene or image.', 'keeper_rules'),
      field('Preferred folders', foldersBox, 'Used by the "In a preferred folder" rule; '
        + 'earlier folders win.', 'preferred_folders'),
      field('Preferred codecs', codecsBox, 'Used by the "Preferred codec" rule; earlier codecs '
        + 'win, codecs not listed rank last.', 'codec_order'),
      field('Protected folders', protectedBox, 'Files in these folders are never suggested '
        + 'for removal, and removing them is refused (as this computer sees the paths).',
      'protected_folders')),
    h('section', { class: 'panel' }, h('h2', {}, 'Removal'),
      field('Default mode', h('select', { id: 'setting-removal_mode',
        onChange: (event) => { draft.removal_mode = event.target.value; } },
      [['trash', 'Move to the system trash'], ['move', 'Move to a trash folder'],
        ['delete', 'Delete permanently'],
        ['hardlink', 'Replace identical copies with hardlinks']].map(([value, label]) => h('option', { value,
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
  renderFolders(protectedBox, 'protected_folders', 'Protected folder');

  // Leaving with unsaved edits asks first (main.js navigate calls app.beforeLeave).
  let saved = JSON.stringify(draft);
  app.beforeLeave = async () => JSON.stringify(draft) === saved
    || confirmDialog('Unsaved settings', 'You have unsaved changes: discard them?',
      'Discard changes', 'danger');

  function clearFieldErrors() {
    for (const row of view.querySelectorAll('.invalid')) row.classList.remove('invalid');
    for (const input of view.querySelectorAll('[aria-invalid]')) {
      input.removeAttribute('aria-invalid');
      input.removeAttribute('aria-describedby');
    }
    for (const message of view.querySelectorAll('.field-error')) message.remove();
  }

  /** Mark the input a refusal names (or its nearest marked parent), the message below it. */
  function markFieldError(name, message) {
    let target = null;
    for (let part = name || ''; part && !target; part = part.slice(0, Math.max(0,
      part.lastIndexOf('.')))) {
      target = view.querySelector(`[data-field="${CSS.escape(part)}"]`);
    }
    if (!target) return;
    const row = target.closest('.field-row') || target.closest('.field');
    const inputs = target.matches('input, select, textarea') ? [target]
      : [...target.querySelectorAll('input, select, textarea')];
    const note = h('div', { class: 'field-error', id: 'settings-field-error' }, message);
    row.classList.add('invalid');
    if (row.matches('.field')) row.querySelector('.field-control').append(note);
    else row.after(note);
    for (const input of inputs) {
      input.setAttribute('aria-invalid', 'true');
      input.setAttribute('aria-describedby', note.id);
    }
    inputs[0]?.focus();
  }

  async function save(event) {
    event.preventDefault();
    error.hidden = true;
    clearFieldErrors();
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
      saved = JSON.stringify(draft);
      app.filter = { ...defaultFilter(app.settings), media: app.filter.media };
      rememberFilter(app.filter);
      await app.refreshStatus();
      toast('Settings saved.', 'good');
      if (databaseChanged) app.navigate('review');
    } catch (failure) {
      error.textContent = failure.message;
      error.hidden = false;
      error.scrollIntoView({ block: 'nearest' });
      markFieldError(failure.field, failure.message);
    }
  }
}
