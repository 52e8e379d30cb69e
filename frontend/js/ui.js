// Small shared components: toasts, modal dialogs, the keyboard dispatcher.

import { h } from './dom.js';

export function toast(message, kind = 'info', timeoutMs = 5000) {
  const box = document.getElementById('toasts');
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    message);
  box.append(item);
  setTimeout(() => item.remove(), timeoutMs);
  return item;
}

const openDialogs = [];

/**
 * A modal dialog. `actions`: [{label, kind, onClick, id}]; onClick may return false to keep
 * the dialog open. Returns {close, element}.
 */
export function dialog({ title, body, actions = [], className = '', onClose }) {
  const previousFocus = document.activeElement;
  const buttons = actions.map((action) => h('button', {
    type: 'button',
    class: `button ${action.kind ? `button-${action.kind}` : ''}`,
    id: action.id,
    disabled: action.disabled,
    onClick: async () => {
      const keepOpen = (await action.onClick?.()) === false;
      if (!keepOpen) close();
    },
  }, action.label));
  const panel = h('div', { class: `dialog ${className}`, role: 'dialog', 'aria-modal': 'true',
    'aria-label': title },
  h('header', { class: 'dialog-title' }, title,
    h('button', { type: 'button', class: 'icon-button dialog-close', title: 'Close (Esc)',
      onClick: () => close() }, '×')),
  h('div', { class: 'dialog-body' }, body),
  buttons.length ? h('footer', { class: 'dialog-actions' }, buttons) : null);
  const backdrop = h('div', { class: 'backdrop', onMousedown: (event) => {
    if (event.target === backdrop) close();
  } }, panel);
  document.body.append(backdrop);
  const entry = { close, panel };
  openDialogs.push(entry);
  const focusable = panel.querySelector('input, select, textarea, .button-primary, .button-danger');
  (focusable || buttons[buttons.length - 1] || panel).focus?.();

  function close() {
    const index = openDialogs.indexOf(entry);
    if (index < 0) return;
    openDialogs.splice(index, 1);
    backdrop.remove();
    onClose?.();
    previousFocus?.focus?.();
  }
  return { close, element: panel, buttons };
}

/** A yes/no question; resolves true when confirmed. */
export function confirmDialog(title, message, confirmLabel = 'OK', kind = 'primary') {
  return new Promise((resolve) => {
    let answered = false;
    dialog({
      title,
      body: h('p', {}, message),
      actions: [
        { label: 'Cancel', onClick: () => { answered = true; resolve(false); } },
        { label: confirmLabel, kind, onClick: () => { answered = true; resolve(true); } },
      ],
      onClose: () => { if (!answered) resolve(false); },
    });
  });
}

// ---- keyboard -----------------------------------------------------------------------------

let viewKeys = null;
const globalKeys = new Map();

/** The current view's key handler: (event) => true when it handled the key. */
export function setViewKeys(handler) {
  viewKeys = handler;
}

export function setGlobalKey(key, handler) {
  globalKeys.set(key, handler);
}

function typingIn(target) {
  if (!target) return false;
  const tag = target.tagName;
  return tag === 'INPUT' || tag === 'TEXTAREA' || tag === 'SELECT' || target.isContentEditable;
}

document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && openDialogs.length) {
    event.preventDefault();
    openDialogs[openDialogs.length - 1].close();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (typingIn(event.target)) {
    if (event.key === 'Escape') event.target.blur(); // back to the keyboard shortcuts
    return;
  }
  if (openDialogs.length) return;
  const global = globalKeys.get(event.key);
  if (global) {
    event.preventDefault();
    global(event);
    return;
  }
  if (viewKeys && viewKeys(event)) event.preventDefault();
});

export function helpOverlay() {
  const keys = [
    ['j  /  ↓', 'Next group'],
    ['k  /  ↑', 'Previous group'],
    ['1 … 9', 'Select a file card'],
    ['←  /  →', 'Select the previous / next card'],
    ['Space', 'Toggle keep / remove of the selected card'],
    ['a', 'Accept the suggested keeper (reset the marks)'],
    ['r', 'Remove the files marked remove…'],
    ['d', 'Not duplicates: dismiss this group'],
    ['n', 'Not a duplicate: dismiss the selected file from this group'],
    ['o  /  Enter', 'Open the selected file (play the video)'],
    ['f', 'Compare the files: frames (videos) or images side by side'],
    ['u', 'Undo the last removal'],
    ['?', 'This help'],
    ['Esc', 'Close a dialog'],
  ];
  dialog({
    title: 'Keyboard shortcuts',
    className: 'help-dialog',
    body: h('table', { class: 'keys' },
      h('tbody', {}, keys.map(([key, what]) => h('tr', {},
        h('td', {}, h('kbd', {}, key)), h('td', {}, what))))),
    actions: [{ label: 'Close', kind: 'primary' }],
  });
}
