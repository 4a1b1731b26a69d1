// The Obol console: sign in, balances, payments (filters, live refresh, detail with events and
// ledger postings), a sandbox checkout with 3-D Secure, capture/cancel/refund, API keys and
// webhook endpoints. Plain DOM; every value is inserted as text, never as HTML.

import { api as makeApi, } from './api.js';
import { defaultTransport } from './transport.js';
import { formatMinor, parseMajor } from './money.js';

const api = makeApi(defaultTransport());
const main = document.getElementById('main');
const nav = document.getElementById('nav');
const notice = document.getElementById('notice');
let stopLive = null;

// Builds an element: h('td', { class: 'x' }, 'text', child).
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function say(message, ok = false) {
  notice.textContent = message;
  notice.className = ok ? 'ok' : '';
  notice.hidden = !message;
}

function show(...nodes) {
  if (stopLive) stopLive();
  stopLive = null;
  main.replaceChildren(...nodes);
}

// Runs an action, reporting its error (with the engine's code) instead of throwing.
async function attempt(action, button) {
  if (button) button.disabled = true;
  try {
    say('');
    return await action();
  } catch (error) {
    say(error.code ? `${error.message} (${error.code})` : String(error.message ?? error));
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

const statusBadge = (status) => h('span', { class: `status ${status}`, 'data-status': status }, status.replaceAll('_', ' '));
const when = (micros) => new Date(Number(BigInt(micros) / 1000n)).toLocaleString();

// --- sign in ---------------------------------------------------------------------------

function signInView() {
  nav.hidden = true;
  const email = h('input', { name: 'email', type: 'email', required: true, value: 'dev@obol.local', autocomplete: 'username' });
  const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'current-password' });
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Sign in');
  const form = h('form', {
    id: 'sign-in',
    onsubmit: async (event) => {
      event.preventDefault();
      const done = await attempt(() => api.transport.login(email.value, password.value), submit);
      if (done) route('#/payments');
    },
  }, h('label', {}, 'Email', email), h('label', {}, 'Password', password), submit);
  show(h('section', {}, h('h2', {}, 'Sign in'), form,
    h('p', { class: 'muted' }, 'obol serve --dev prints the development password.')));
}

// --- payments --------------------------------------------------------------------------

async function balancesSection() {
  const section = h('section', { id: 'balances' }, h('h2', {}, 'Balance'));
  const list = await attempt(() => api.balances('USD,EUR'));
  const row = h('div', { class: 'balances' });
  for (const b of list?.data ?? []) {
    const available = BigInt(b.balance.credits_posted) - BigInt(b.balance.debits_posted);
    const pending = BigInt(b.balance.credits_pending) - BigInt(b.balance.debits_pending);
    row.append(h('div', { class: 'balance', 'data-asset': b.asset },
      h('span', { class: 'muted' }, b.asset),
      h('strong', { 'data-field': 'available' }, formatMinor(available, b.asset)),
      h('span', { class: 'muted' }, `pending ${formatMinor(pending, b.asset)}`)));
  }
  section.append(row);
  return section;
}

async function paymentsView(filters = {}) {
  const status = h('select', { name: 'status' },
    ...['', 'requires_payment_method', 'requires_confirmation', 'requires_action', 'processing', 'requires_capture', 'succeeded', 'canceled']
      .map((s) => h('option', { value: s, selected: filters.status === s }, s ? s.replaceAll('_', ' ') : 'any status')));
  const live = h('input', { type: 'checkbox', name: 'live', checked: true });
  const body = h('tbody');
  const more = h('button', { type: 'button', hidden: true }, 'More');
  let cursor = null;

  async function load(append) {
    const page = await attempt(() => api.payments({ status: status.value, limit: 20, starting_after: append ? cursor : undefined }));
    if (!page) return;
    if (!append) body.replaceChildren();
    for (const p of page.data) {
      body.append(h('tr', { class: 'link', 'data-id': p.id, onclick: () => route(`#/payments/${p.id}`) },
        h('td', {}, formatMinor(p.state.amount, p.asset)),
        h('td', {}, statusBadge(p.state.status)),
        h('td', {}, p.method?.card ? `${p.method.card.brand} •••• ${p.method.card.last4}` : '—'),
        h('td', { class: 'muted' }, p.id),
        h('td', { class: 'muted' }, when(p.created_at))));
    }
    cursor = page.next_cursor ?? null;
    more.hidden = !page.has_more;
  }
  status.addEventListener('change', () => load(false));
  more.addEventListener('click', () => load(true));

  const balances = await balancesSection();
  show(balances,
    h('section', {}, h('h2', {}, 'Payments'),
      h('div', { class: 'row' }, h('label', {}, 'Status', status), h('label', {}, h('span', {}, 'Live refresh'), live)),
      h('table', { id: 'payments' }, h('thead', {}, h('tr', {}, ...['Amount', 'Status', 'Method', 'Id', 'Created'].map((t) => h('th', {}, t)))), body),
      more));
  await load(false);
  const timer = setInterval(async () => {
    if (!live.checked || cursor) return;
    await load(false);
    balances.replaceWith(await balancesSection());
  }, 3000);
  stopLive = () => clearInterval(timer);
}

async function paymentView(id) {
  const payment = await attempt(() => api.payment(id));
  if (!payment) return;
  const [events, refunds, hold] = await Promise.all([
    attempt(() => api.events(id)),
    attempt(() => api.refunds(id)),
    attempt(() => api.hold(payment.hold_id)),
  ]);
  const s = payment.state;
  const amountInput = h('input', { name: 'amount', placeholder: 'amount (blank: all)', size: 14 });
  const act = (label, fn, name) => {
    const button = h('button', { type: 'button', name }, label);
    button.addEventListener('click', async () => {
      let minor;
      try {
        minor = amountInput.value ? parseMajor(amountInput.value, payment.asset) : undefined;
      } catch (error) {
        say(error.message);
        return;
      }
      const done = await attempt(() => fn(minor), button);
      if (done) {
        say(`${label} done`, true);
        paymentView(id);
      }
    });
    return button;
  };
  const actions = h('div', { class: 'row', id: 'actions' }, amountInput);
  if (s.status === 'requires_capture') actions.append(act('Capture', (m) => api.capture(id, m), 'capture'));
  if (['requires_payment_method', 'requires_confirmation', 'requires_action', 'requires_capture'].includes(s.status)) {
    actions.append(act('Cancel', () => api.cancel(id), 'cancel'));
  }
  if (s.status === 'succeeded' && BigInt(s.captured) > BigInt(s.refunded) + BigInt(s.disputed)) {
    actions.append(act('Refund', (m) => api.refund(id, m), 'refund'));
  }
  if (s.status === 'requires_action') actions.append(threeDSButton(payment, () => paymentView(id)));

  const facts = [
    ['Status', statusBadge(s.status)], ['Amount', formatMinor(s.amount, payment.asset)],
    ['Authorized', formatMinor(s.authorized, payment.asset)], ['Captured', formatMinor(s.captured, payment.asset)],
    ['Refunded', formatMinor(s.refunded, payment.asset)], ['Fees', formatMinor(payment.fees, payment.asset)],
    ['Method', payment.method?.card ? `${payment.method.card.brand} •••• ${payment.method.card.last4}` : '—'],
    ['Last decline', payment.last_decline ?? '—'], ['Provider', payment.provider ?? '—'],
  ];
  show(
    h('section', { id: 'payment', 'data-status': s.status }, h('h2', {}, `Payment ${payment.id}`),
      h('table', {}, h('tbody', {}, ...facts.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', { 'data-field': k.toLowerCase() }, v))))),
      actions),
    h('section', {}, h('h2', {}, 'Ledger postings (authorization hold)'),
      hold ? h('table', { id: 'postings' },
        h('thead', {}, h('tr', {}, ...['Account', 'Side', 'Held', 'Posted'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...hold.entries.map((e, i) => h('tr', {},
          h('td', { class: 'muted' }, e.account), h('td', {}, e.direction),
          h('td', {}, formatMinor(e.amount, e.asset)), h('td', {}, formatMinor(hold.posted[i] ?? '0', e.asset))))))
        : h('p', { class: 'muted' }, 'Nothing held yet.')),
    h('section', {}, h('h2', {}, 'Refunds'),
      (refunds?.data ?? []).length
        ? h('table', { id: 'refunds' }, h('tbody', {}, ...refunds.data.map((r) => h('tr', {},
          h('td', {}, formatMinor(r.amount, payment.asset)), h('td', {}, statusBadge(r.status)), h('td', { class: 'muted' }, r.id)))))
        : h('p', { class: 'muted' }, 'None.')),
    h('section', {}, h('h2', {}, 'Events'),
      h('table', { id: 'events' }, h('tbody', {}, ...(events?.data ?? []).map((e) => h('tr', {},
        h('td', {}, e.kind), h('td', { class: 'muted' }, when(e.created_at)), h('td', { class: 'muted' }, e.id)))))));
}

// Only a web page may be opened as the bank's check (never a javascript: or data: URL).
function webPage(url) {
  try {
    return ['https:', 'http:'].includes(new URL(url).protocol) ? url : null;
  } catch {
    return null;
  }
}

// The 3-D Secure step. The sandbox's bank is this dialog; a real rail's (Stripe) is the page
// at next_action_url, opened in a new window; then the payment goes on.
function threeDSButton(payment, after) {
  const button = h('button', { type: 'button', class: 'primary', name: 'authenticate' }, 'Complete 3-D Secure');
  button.addEventListener('click', () => {
    const bank = payment.provider === 'sandbox' ? null : webPage(payment.next_action_url);
    const confirm = h('button', { type: 'button', class: 'primary', name: 'approve' },
      bank ? 'I have approved it' : 'Approve payment');
    const dialog = h('dialog', { id: 'three-ds' },
      h('h2', {}, '3-D Secure'),
      h('p', {}, `Your bank asks you to approve ${formatMinor(payment.state.amount, payment.asset)}.`),
      bank
        ? h('p', {}, h('a', { href: bank, target: '_blank', rel: 'noopener noreferrer', name: 'challenge' },
          `Open your bank's check (${payment.provider})`))
        : h('p', { class: 'muted' }, 'Sandbox: no real bank is involved.'),
      confirm);
    confirm.addEventListener('click', async () => {
      const done = await attempt(() => api.completeAction(payment.id), confirm);
      dialog.close();
      dialog.remove();
      if (done) after(done);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
  return button;
}

// --- checkout --------------------------------------------------------------------------

function checkoutView() {
  const amount = h('input', { name: 'amount', value: '25.00', required: true });
  const asset = h('select', { name: 'asset' }, h('option', {}, 'USD'), h('option', {}, 'EUR'));
  const number = h('input', { name: 'card', value: '4242 4242 4242 4242', required: true, inputmode: 'numeric' });
  const expiry = h('input', { name: 'expiry', value: '12/30', required: true, size: 6 });
  const cvc = h('input', { name: 'cvc', value: '123', required: true, size: 4 });
  const capture = h('select', { name: 'capture_method' }, h('option', { value: 'automatic' }, 'capture at once'), h('option', { value: 'manual' }, 'authorize only'));
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Pay');
  const result = h('div', { id: 'checkout-result' });
  // One key per form: a double click or a retry after a network error pays once.
  let key = crypto.randomUUID();
  const form = h('form', {
    id: 'checkout',
    onsubmit: async (event) => {
      event.preventDefault();
      const payment = await attempt(async () => {
        const [month, year] = expiry.value.split('/').map((x) => Number.parseInt(x, 10));
        return api.pay({
          amount: parseMajor(amount.value, asset.value), asset: asset.value, capture_method: capture.value, confirm: true,
          payment_method: { card: { number: number.value, exp_month: month, exp_year: year < 100 ? 2000 + year : year, cvc: cvc.value } },
        }, key);
      }, submit);
      if (!payment) return;
      key = crypto.randomUUID();
      showOutcome(payment);
    },
  },
  h('label', {}, 'Amount', h('div', { class: 'row' }, amount, asset)),
  h('label', {}, 'Card number', number),
  h('div', { class: 'row' }, h('label', {}, 'Expiry (MM/YY)', expiry), h('label', {}, 'CVC', cvc)),
  h('label', {}, 'Capture', capture),
  submit);

  function showOutcome(payment) {
    const status = payment.state.status;
    const parts = [h('p', {}, 'Payment ', h('a', { href: `#/payments/${payment.id}` }, payment.id), ' is ', statusBadge(status))];
    if (status === 'requires_action') {
      parts.push(h('p', {}, 'The card asks for 3-D Secure.'), threeDSButton(payment, showOutcome));
    }
    if (payment.last_decline) parts.push(h('p', {}, `Declined: ${payment.last_decline}`));
    result.replaceChildren(...parts);
  }

  show(h('section', {}, h('h2', {}, 'Checkout (sandbox)'), form,
    h('p', { class: 'muted' }, 'Sandbox cards: 4242 4242 4242 4242 succeeds · 4000 0025 0000 3155 asks for 3-D Secure · 4000 0000 0000 0002 is declined.'),
    result));
}

// --- API keys --------------------------------------------------------------------------

async function apiKeysView() {
  const keys = await attempt(() => api.apiKeys());
  const name = h('input', { name: 'name', required: true, placeholder: 'label' });
  const scopes = ['payments:read', 'payments:write', 'refunds:write', 'ledger:read', 'ledger:write', 'webhooks:write', 'users:admin'];
  const boxes = scopes.map((s) => h('label', {}, h('input', { type: 'checkbox', value: s, checked: s.startsWith('payments') }), s));
  const secret = h('div');
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Create key');
  const form = h('form', {
    id: 'new-key',
    onsubmit: async (event) => {
      event.preventDefault();
      const chosen = boxes.map((b) => b.querySelector('input')).filter((i) => i.checked).map((i) => i.value);
      const created = await attempt(() => api.createApiKey(name.value, chosen), submit);
      if (created) {
        await apiKeysView();
        say('Copy the key now: it is not shown again.', true);
        main.querySelector('#key-secret')?.replaceChildren(h('div', { class: 'secret' }, created.secret));
      }
    },
  }, h('label', {}, 'Name', name), h('div', { class: 'row' }, ...boxes), submit);
  const rows = (keys?.data ?? []).map((k) => {
    const revoke = h('button', { type: 'button' }, 'Revoke');
    revoke.addEventListener('click', async () => {
      if (await attempt(() => api.revokeApiKey(k.id), revoke)) apiKeysView();
    });
    return h('tr', {}, h('td', {}, k.name), h('td', { class: 'muted' }, `…${k.last4}`), h('td', {}, k.scopes.join(' ')),
      h('td', {}, k.revoked_at ? 'revoked' : revoke));
  });
  show(h('section', {}, h('h2', {}, 'API keys'), h('table', { id: 'keys' }, h('tbody', {}, ...rows))),
    h('section', {}, h('h2', {}, 'New key'), form, h('div', { id: 'key-secret' }, secret)));
}

// --- webhooks --------------------------------------------------------------------------

async function webhooksView() {
  const [endpoints, events] = await Promise.all([attempt(() => api.endpoints()), attempt(() => api.recentEvents())]);
  const url = h('input', { name: 'url', type: 'url', required: true, placeholder: 'https://example.com/webhooks' });
  const submit = h('button', { class: 'primary', type: 'submit' }, 'Add endpoint');
  const form = h('form', {
    onsubmit: async (event) => {
      event.preventDefault();
      const created = await attempt(() => api.createEndpoint(url.value), submit);
      if (created) {
        await webhooksView();
        say(`Signing secret (shown once): ${created.secret}`, true);
      }
    },
  }, h('label', {}, 'URL', url), submit);
  const recent = (events?.data ?? []).slice(-10).reverse();
  const attempts = await Promise.all(recent.map((e) => attempt(() => api.attempts(e.id))));
  show(
    h('section', {}, h('h2', {}, 'Webhook endpoints'),
      h('table', {}, h('tbody', {}, ...(endpoints?.data ?? []).map((e) => h('tr', {},
        h('td', {}, e.url), h('td', {}, e.enabled ? 'enabled' : 'disabled'), h('td', { class: 'muted' }, e.id))))),
      form),
    h('section', {}, h('h2', {}, 'Recent deliveries'),
      h('table', {}, h('thead', {}, h('tr', {}, ...['Event', 'Attempt', 'Status', 'Error', 'At'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...recent.flatMap((e, i) => (attempts[i]?.data ?? []).map((a) => h('tr', {},
          h('td', {}, e.kind), h('td', {}, a.attempt), h('td', {}, a.status ?? '—'), h('td', { class: 'muted' }, a.error ?? ''),
          h('td', { class: 'muted' }, when(a.at)))))))));
}

// --- routing ---------------------------------------------------------------------------

async function route(hash = location.hash) {
  if (hash !== location.hash) {
    location.hash = hash;
    return;
  }
  if (!api.transport.signedIn() && !(await api.transport.resume())) {
    signInView();
    return;
  }
  nav.hidden = false;
  for (const a of nav.querySelectorAll('a')) a.classList.toggle('active', hash.startsWith(a.getAttribute('href')));
  const [, page, id] = hash.split('/');
  if (page === 'payments' && id) return paymentView(id);
  if (page === 'checkout') return checkoutView();
  if (page === 'api-keys') return apiKeysView();
  if (page === 'webhooks') return webhooksView();
  return paymentsView();
}

document.getElementById('sign-out').addEventListener('click', async () => {
  await api.transport.logout();
  signInView();
});
window.addEventListener('hashchange', () => route());
route();
