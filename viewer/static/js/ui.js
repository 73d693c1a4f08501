// Small DOM helpers shared by the views.

/** The element with id ``id``. */
export const $ = (id) => document.getElementById(id);

/** A new element: ``el('li', {class: 'x', text: 'y'}, child, ...)``. */
export function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') e.textContent = v; else e.setAttribute(k, v === true ? '' : v);
  }
  e.append(...kids);
  return e;
}

/** Show ``msg`` for three seconds at the bottom of the window (announced by screen readers). */
export function toast(msg) {
  const box = $('toast');
  box.textContent = msg; box.hidden = false;
  clearTimeout(toast.timer); toast.timer = setTimeout(() => { box.hidden = true; }, 3000);
}

/**
 * Make a list's items operable from the keyboard: each item takes focus (tabindex 0,
 * role button) and Enter or Space does what a click does.
 */
export function clickable(li, onActivate) {
  li.tabIndex = 0;
  if (!li.getAttribute('role')) li.setAttribute('role', 'button');
  li.addEventListener('click', onActivate);
  li.addEventListener('keydown', (e) => {
    if (e.target !== li) return;
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); onActivate(e); }
  });
  return li;
}
