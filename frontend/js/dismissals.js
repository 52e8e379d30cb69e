// "Not duplicates": review the groups and files dismissed, and undo any of them.

import { api } from './api.js';
import { h, mount } from './dom.js';
import { dateTime } from './format.js';
import { toast } from './ui.js';

export async function showDismissals(view) {
  const { dismissals } = await api.dismissals();
  mount(view, h('div', { class: 'page' },
    h('div', { class: 'page-header' }, h('h1', {}, 'Not duplicates')),
    h('p', { class: 'muted' }, 'Groups and files you marked as not duplicates stay hidden from '
      + 'the review, also after Stash rescans. A dismissed group shows again if a new file '
      + 'joins it.'),
    dismissals.length ? h('ul', { class: 'dismissals', id: 'dismissal-list' },
      dismissals.map((dismissal) => h('li', { class: 'dismissal',
        dataset: { id: String(dismissal.id) } },
      h('div', { class: 'dismissal-text' },
        h('div', {}, h('b', {}, dismissal.kind === 'group'
          ? `Group of ${dismissal.members.length} ${dismissal.media}s`
          : `One ${dismissal.media} is not a duplicate of ${dismissal.members.length} others`),
        h('span', { class: 'muted small' }, `  ${dateTime(dismissal.created)}`)),
        dismissal.file ? h('div', { class: 'path strong' }, dismissal.file.path) : null,
        dismissal.members.map((member) => h('div', { class: 'path muted' }, member.path))),
      h('button', { type: 'button', class: 'button', onClick: async () => {
        try {
          await api.undoDismissal(dismissal.id);
          toast('Shown again in the review.', 'info');
        } catch (error) {
          toast(error.message, 'error');
        }
        showDismissals(view);
      } }, 'Undo'))))
      : h('p', { class: 'muted', id: 'dismissal-list' }, 'Nothing dismissed.')));
}
