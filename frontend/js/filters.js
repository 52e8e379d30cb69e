// The filter bar: videos/images, distance preset or custom, duration tolerance (seconds or
// percent of the longer video), path, size, the list's order, and filters by Stash metadata.

import { debounce, h, mount } from './dom.js';
import { DISTANCE_PRESETS, DURATION_PRESETS } from './state.js';

/**
 * Render the controls for `filter` into `element`; `onChange(filter)` on every change.
 * `onOverlaps()`, when given, adds the third list (Overlaps) to the media switch.
 */
export function renderFilters(element, filter, onChange, { onOverlaps } = {}) {
  const change = (patch) => {
    Object.assign(filter, patch);
    // A chosen option should not keep the keys: j/k go back to the group list.
    if (document.activeElement?.tagName === 'SELECT') document.activeElement.blur();
    onChange(filter);
  };
  const isPreset = DISTANCE_PRESETS.some((preset) => preset.value === filter.distance);
  const customDistance = h('input', { type: 'number', min: 0, max: 16, step: 1,
    id: 'filter-distance-custom', class: 'narrow', value: String(filter.distance),
    title: 'Largest Hamming distance between phashes (0–16)', hidden: isPreset,
    onChange: (event) => {
      const value = Math.max(0, Math.min(16, Number(event.target.value) || 0));
      change({ distance: value });
    } });
  const distance = h('select', { id: 'filter-distance', title: 'How alike the pictures must be',
    onChange: (event) => {
      if (event.target.value === 'custom') {
        customDistance.hidden = false;
        customDistance.focus();
        return;
      }
      customDistance.hidden = true;
      change({ distance: Number(event.target.value) });
    } },
  DISTANCE_PRESETS.map((preset) => h('option', { value: String(preset.value),
    selected: preset.value === filter.distance }, preset.label)),
  h('option', { value: 'custom', selected: !isPreset }, 'Custom…'));

  // The tolerance is seconds (filter.duration) or, when filter.duration_percent is set, a
  // percentage of the longer duration; the select's values are "12" (s) or "2%".
  const percent = filter.duration_percent ?? '';
  const durationValue = percent === '' ? filter.duration : `${percent}%`;
  const durationPreset = [...DURATION_PRESETS, ...PERCENT_PRESETS]
    .some((preset) => preset.value === durationValue);
  const customUnit = h('select', { id: 'filter-duration-unit', class: 'unit',
    'aria-label': 'Unit of the duration tolerance', hidden: durationPreset,
    onChange: () => setCustomDuration() },
  h('option', { value: 's', selected: percent === '' }, 's'),
  h('option', { value: '%', selected: percent !== '' }, '%'));
  const customDuration = h('input', { type: 'number', min: 0, step: 0.5, class: 'narrow',
    id: 'filter-duration-custom', value: percent === '' ? filter.duration : percent,
    hidden: durationPreset, 'aria-label': 'Duration tolerance',
    title: 'Seconds, or percent of the longer video', onChange: () => setCustomDuration() });
  const setCustomDuration = () => {
    const value = String(Math.max(0, Number(customDuration.value) || 0));
    if (customUnit.value === '%') {
      change({ duration_percent: String(Math.min(99, Number(value))), duration: '' });
    } else change({ duration: value, duration_percent: '' });
  };
  const durationSelect = h('select', { id: 'filter-duration',
    title: 'Videos: how far durations may differ (in seconds, or in percent of the longer '
      + 'video)', disabled: filter.media !== 'video',
    onChange: (event) => {
      if (event.target.value === 'custom') {
        customDuration.hidden = false;
        customUnit.hidden = false;
        customDuration.focus();
        return;
      }
      customDuration.hidden = true;
      customUnit.hidden = true;
      const chosen = event.target.value;
      if (chosen.endsWith('%')) change({ duration_percent: chosen.slice(0, -1), duration: '' });
      else change({ duration: chosen, duration_percent: '' });
    } },
  [...DURATION_PRESETS, ...PERCENT_PRESETS].map((preset) => h('option', {
    value: preset.value, selected: preset.value === durationValue }, preset.label)),
  h('option', { value: 'custom', selected: !durationPreset }, 'Custom…'));

  // Every control has a visible label tied to it (for=), so it says what it does.
  const label = (control, text, title) => h('label', { for: control, class: 'filter-label',
    title }, text);
  mount(element,
    h('div', { class: 'filter-row' },
      mediaSwitch(filter.media, (media) => {
        if (filter.media === media) return;
        change({ media });
        renderFilters(element, filter, onChange, { onOverlaps });
      }, onOverlaps)),
    // One labelled control per row, labels in one column, so the sidebar reads as a form.
    h('div', { class: 'filter-row labelled' },
      label('filter-distance', 'Distance', 'How alike the pictures must be'),
      distance, customDistance),
    h('div', { class: 'filter-row labelled' },
      label('filter-duration', 'Duration', 'Videos: how far durations may differ'),
      durationSelect, customDuration, customUnit),
    h('div', { class: 'filter-row labelled' },
      label('filter-min-size', 'Min. files per group', 'Only groups with at least this many '
        + 'files'),
      h('input', { type: 'number', min: 2, step: 1, class: 'narrow',
        id: 'filter-min-size', value: String(filter.min_size),
        onChange: (event) => change({ min_size: Math.max(2, Number(event.target.value) || 2) }),
      })),
    h('div', { class: 'filter-row' },
      h('input', { type: 'search', id: 'filter-path', class: 'grow',
        'aria-label': 'Only groups touching a folder',
        placeholder: 'Only groups touching a folder…', value: filter.path, spellcheck: 'false',
        onInput: debounce((event) => change({ path: event.target.value }), 350) })),
    h('div', { class: 'filter-row' },
      h('input', { type: 'checkbox', id: 'filter-suspicious', checked: filter.suspicious,
        onChange: (event) => change({ suspicious: event.target.checked }) }),
      label('filter-suspicious', 'Include blank/flat pictures', 'Blank or one-colour pictures '
        + 'all share a phash, so their groups are rarely real duplicates: hidden unless '
        + 'checked')),
    h('div', { class: 'filter-row labelled' },
      label('filter-sort', 'Sort by', 'The order of the group list'),
      h('select', { id: 'filter-sort', onChange: (event) => change({ sort: event.target.value }) },
        SORTS.map(([value, label]) => h('option', { value,
          selected: value === (filter.sort || 'reclaimable') }, label)))),
    metadataFilters(filter, change));
}

/**
 * The switch between the lists: Videos, Images and (with `onOverlaps`) Overlaps. `active` is
 * 'video', 'image' or 'overlaps'; `onMedia(media)` picks a media's duplicate groups.
 */
export function mediaSwitch(active, onMedia, onOverlaps) {
  const button = (name, label, onClick) => h('button', {
    type: 'button', id: `filter-media-${name}`,
    class: `segment${active === name ? ' active' : ''}`,
    'aria-pressed': active === name ? 'true' : 'false',
    onClick }, label);
  return h('div', { class: 'segmented', role: 'group', 'aria-label': 'Media' },
    button('video', 'Videos', () => onMedia('video')),
    button('image', 'Images', () => onMedia('image')),
    onOverlaps ? button('overlaps', 'Overlaps', () => {
      if (active !== 'overlaps') onOverlaps();
    }) : null);
}

const PERCENT_PRESETS = [
  { value: '1%', label: '± 1 %' },
  { value: '2%', label: '± 2 %' },
  { value: '5%', label: '± 5 %' },
];

const SORTS = [
  ['reclaimable', 'Most reclaimable'],
  ['files', 'Most files'],
  ['distance', 'Largest distance'],
  ['newest', 'Newest'],
  ['path', 'Path'],
];

/** Studio, performer, tag, organized, missing files: open when one of them is in use. */
function metadataFilters(filter, change) {
  const text = (key, label) => h('label', { class: 'meta-filter' }, label,
    h('input', { type: 'search', id: `filter-${key}`, value: filter[key] || '',
      spellcheck: 'false', placeholder: 'any',
      onInput: debounce((event) => change({ [key]: event.target.value.trim() }), 350) }));
  const inUse = ['studio', 'performer', 'tag', 'organized', 'missing'].some((key) => filter[key]);
  return h('details', { class: 'meta-filters', id: 'meta-filters', open: inUse },
    h('summary', {}, 'Stash filters', inUse ? h('span', { class: 'badge' }, 'on') : null),
    text('studio', 'Studio'),
    text('performer', 'Performer'),
    text('tag', 'Tag'),
    h('label', { class: 'meta-filter' }, 'Organized',
      h('select', { id: 'filter-organized',
        onChange: (event) => change({ organized: event.target.value }) },
      [['', 'Either'], ['yes', 'Some file organized'], ['no', 'None organized']].map(
        ([value, label]) => h('option', { value, selected: value === (filter.organized || '') },
          label)))),
    h('label', { class: 'inline' },
      h('input', { type: 'checkbox', id: 'filter-missing', checked: Boolean(filter.missing),
        onChange: (event) => change({ missing: event.target.checked }) }),
      ' Only groups with missing files'));
}
