// The filter bar: videos/images, distance preset or custom, duration tolerance, path, size.

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

  const durationPreset = DURATION_PRESETS.some((preset) => preset.value === filter.duration);
  const customDuration = h('input', { type: 'number', min: 0, step: 0.5, class: 'narrow',
    id: 'filter-duration-custom', value: filter.duration, hidden: durationPreset,
    title: 'Seconds', onChange: (event) => change({
      duration: String(Math.max(0, Number(event.target.value) || 0)) }) });
  const durationSelect = h('select', { id: 'filter-duration',
    title: 'Videos: how far durations may differ', disabled: filter.media !== 'video',
    onChange: (event) => {
      if (event.target.value === 'custom') {
        customDuration.hidden = false;
        customDuration.focus();
        return;
      }
      customDuration.hidden = true;
      change({ duration: event.target.value });
    } },
  DURATION_PRESETS.map((preset) => h('option', { value: preset.value,
    selected: preset.value === filter.duration }, preset.label)),
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
      }, onOverlaps),
      label('filter-distance', 'Distance', 'How alike the pictures must be'),
      distance, customDistance),
    h('div', { class: 'filter-row' },
      label('filter-duration', 'Duration', 'Videos: how far durations may differ'),
      durationSelect, customDuration,
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
        + 'checked')));
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
