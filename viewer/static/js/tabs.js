// The panel's tabs, operable from the keyboard as the WAI-ARIA tabs pattern says:
// the tab list is one stop in the tab order (roving tabindex), arrow keys (and Home/End)
// move between tabs, Enter or Space opens the focused one; each pane is a tabpanel.
import { t } from './i18n.js';
import { state, emit } from './state.js';

let nav = null;

function tabs() { return [...nav.querySelectorAll('[role=tab]')]; }

function decorate(btn) {
  const id = btn.dataset.tab;
  const pane = document.querySelector(`section[data-pane="${id}"]`);
  btn.setAttribute('role', 'tab');
  btn.id = btn.id || `tab-${id}`;
  btn.type = 'button';
  if (pane) {
    pane.id = pane.id || `pane-${id}`;
    pane.setAttribute('role', 'tabpanel');
    pane.setAttribute('aria-labelledby', btn.id);
    btn.setAttribute('aria-controls', pane.id);
  }
  const on = btn.classList.contains('active');
  btn.setAttribute('aria-selected', on ? 'true' : 'false');
  btn.tabIndex = on ? 0 : -1;
  btn.addEventListener('click', () => activate(id));
}

/** Open tab ``id`` (its pane shows, the others hide) and tell the views ('tab'). */
export function activate(id) {
  for (const b of tabs()) {
    const on = b.dataset.tab === id;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
    b.tabIndex = on ? 0 : -1;
  }
  document.querySelectorAll('section.pane').forEach((p) => p.classList.toggle('active', p.dataset.pane === id));
  state.tab = id;
  emit('tab', id);
}

/** Add a tab labelled by i18n key ``labelKey`` (button id ``buttonId``); returns its (empty) pane. */
export function addTab(id, labelKey, buttonId = `tab-${id}`) {
  const btn = document.createElement('button');
  btn.id = buttonId;
  btn.dataset.tab = id;
  btn.dataset.i18n = labelKey;
  btn.textContent = t(labelKey);
  nav.append(btn);
  const pane = document.createElement('section');
  pane.className = 'pane';
  pane.dataset.pane = id;
  nav.closest('.panel').append(pane);
  decorate(btn);
  return pane;
}

function onKey(e) {
  const all = tabs();
  const i = all.indexOf(document.activeElement);
  if (i < 0) return;
  let j = null;
  if (e.key === 'ArrowRight' || e.key === 'ArrowDown') j = (i + 1) % all.length;
  else if (e.key === 'ArrowLeft' || e.key === 'ArrowUp') j = (i - 1 + all.length) % all.length;
  else if (e.key === 'Home') j = 0;
  else if (e.key === 'End') j = all.length - 1;
  if (j === null) return;
  e.preventDefault();
  all.forEach((b, k) => { b.tabIndex = k === j ? 0 : -1; });
  all[j].focus();
}

/** Make ``navEl`` (the panel's nav) a keyboard-operable tab list. */
export function initTabs(navEl) {
  nav = navEl;
  nav.setAttribute('role', 'tablist');
  nav.querySelectorAll('button[data-tab]').forEach(decorate);
  nav.addEventListener('keydown', onKey);
  // Focus leaving the list: the open tab is the list's one tab stop again.
  nav.addEventListener('focusout', (e) => {
    if (nav.contains(e.relatedTarget)) return;
    for (const b of tabs()) b.tabIndex = b.classList.contains('active') ? 0 : -1;
  });
  state.tab = nav.querySelector('button.active')?.dataset.tab || 'layers';
}
