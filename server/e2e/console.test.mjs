// The console in headless Chromium against a running server (OBOL_URL, with the development
// credentials in OBOL_EMAIL / OBOL_PASSWORD): sign in, pay with a card that asks for 3-D
// Secure, capture, refund, and watch the balance change; a screenshot is saved to
// OBOL_SCREENSHOT. OBOL_PROVIDER names the rail the server sends cards to: `sandbox` (its
// bank is a dialog) or `stripe` (its bank is the page at next_action_url, in a new window).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const base = process.env.OBOL_URL;
const email = process.env.OBOL_EMAIL;
const password = process.env.OBOL_PASSWORD;
const screenshot = process.env.OBOL_SCREENSHOT ?? 'console.png';
const provider = process.env.OBOL_PROVIDER ?? 'sandbox';

async function available(page) {
  await page.goto(`${base}/#/payments`);
  const text = await page.locator('#balances [data-asset="USD"] [data-field="available"]').textContent();
  return text.trim();
}

test('sign in, pay with 3-D Secure, capture, refund, see the balance change', async () => {
  assert.ok(base && email && password, 'OBOL_URL, OBOL_EMAIL and OBOL_PASSWORD are set');
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (error) => errors.push(error.message));

    await page.goto(base);
    await page.fill('#sign-in input[name=email]', email);
    await page.fill('#sign-in input[name=password]', password);
    await page.click('#sign-in button[type=submit]');
    await page.waitForSelector('#payments');
    const before = await available(page);

    // Checkout with the card that asks for 3-D Secure, authorizing only.
    await page.click('nav a[href="#/checkout"]');
    await page.fill('#checkout input[name=amount]', '42.50');
    await page.fill('#checkout input[name=card]', '4000 0025 0000 3155');
    await page.selectOption('#checkout select[name=capture_method]', 'manual');
    await page.click('#checkout button[type=submit]');
    await page.waitForSelector('#checkout-result [data-status="requires_action"]');
    await page.click('#checkout-result button[name=authenticate]');
    if (provider !== 'sandbox') {
      // The bank's page opens in a new window; passing its check returns the customer.
      const [bank] = await Promise.all([
        page.waitForEvent('popup'),
        page.click('#three-ds a[name=challenge]'),
      ]);
      await bank.waitForURL(/payment_intent=/);
      await bank.close();
    }
    await page.click('#three-ds button[name=approve]');
    await page.waitForSelector('#checkout-result [data-status="requires_capture"]');

    // The payment's page: capture it, then refund part.
    await page.click('#checkout-result a');
    await page.waitForSelector('#payment[data-status="requires_capture"]');
    assert.equal((await page.locator('[data-field="provider"]').textContent()).trim(), provider);
    await page.click('#actions button[name=capture]');
    await page.waitForSelector('#payment[data-status="succeeded"]');
    assert.match(await page.locator('[data-field="captured"]').textContent(), /42\.50 USD/);
    await page.fill('#actions input[name=amount]', '10.00');
    await page.click('#actions button[name=refund]');
    await page.waitForFunction(() => document.querySelector('[data-field="refunded"]')?.textContent.includes('10.00'));
    const kinds = await page.locator('#events td:first-child').allTextContents();
    assert.ok(kinds.includes('payment.created') && kinds.includes('payment.succeeded'), kinds.join(','));
    const postings = await page.locator('#postings tbody tr').count();
    assert.equal(postings, 2, 'the authorization hold: one debit, one credit');

    // The balance grew by the capture less the refund.
    const after = await available(page);
    const cents = (text) => BigInt(text.replace(/[^0-9-]/g, ''));
    assert.equal(cents(after) - cents(before), 3250n, `${before} → ${after}`);
    await page.screenshot({ path: screenshot, fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
