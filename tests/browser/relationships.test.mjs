// The owner's relationship records in a real browser: from the navigation to the webshop's
// record (known from its grant, no record yet), a promise added with the form, shown in the
// record and counted in the list; made overdue it is marked in words there and in the
// navigation, and settled as kept it is not. Then the due page and its calendar feed, which
// opens without the session cookie (as a calendar app would fetch it) and not after sign-out.

import assert from 'node:assert/strict';

import { BASE, openFromNav, pageTest, screenshot, signIn } from './harness.mjs';

/** `YYYY-MM-DD` of today (UTC) moved by `days`. */
function isoDay(days) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

const WHAT = 'Call back about the <b>order</b>';
/** The width the documentation's screenshots are taken at. */
const WIDE = { viewport: { width: 1100, height: 800 } };

pageTest('a promise added on the record page is listed, marked overdue in words and settled', async (page) => {
  await signIn(page);
  await openFromNav(page, 'Relationships', 'Relationships');
  const table = page.getByRole('table', { name: /One row per business/ });
  const row = table.getByRole('row').filter({ has: page.getByRole('link', { name: 'webshop.example', exact: true }) });
  assert.match(await row.innerText(), /no record yet/, 'known from its grant, without a record');
  await row.getByRole('link', { name: 'webshop.example', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'webshop.example', exact: true }).waitFor();

  // Due yesterday: overdue as soon as it is recorded.
  await page.getByLabel('What was promised', { exact: true }).fill(WHAT);
  await page.getByLabel('Due on', { exact: true }).fill(isoDay(-1));
  await page.getByRole('button', { name: 'Add the promise', exact: true }).click();
  await page.waitForLoadState('load');
  assert.equal(await page.getByRole('status').innerText(), 'The promise is recorded.');
  const promises = page.getByRole('region', { name: 'Promises', exact: true });
  const card = promises.getByRole('listitem').filter({ hasText: WHAT });
  assert.equal(await card.count(), 1, 'the promise is in the record');
  assert.equal(await card.getByRole('heading', { level: 3 }).innerText(), `Overdue: ${WHAT}`, 'overdue in words, markup as text');
  assert.equal(await promises.locator('b').count(), 0);
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  await nav.getByRole('link', { name: 'Relationships (1 overdue)', exact: true }).waitFor();
  await screenshot(page, 'relationship-record', { docs: true });

  await nav.getByRole('link', { name: 'Relationships (1 overdue)', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Relationships', exact: true }).waitFor();
  const cells = (await row.getByRole('cell').allInnerTexts()).map((c) => c.trim());
  assert.deepEqual(cells.slice(0, 3), ['1', '1', '1 overdue'], `entries, open, overdue: ${cells}`);
  await screenshot(page, 'relationships', { docs: true });

  // Settled as kept: no longer overdue anywhere.
  await row.getByRole('link', { name: 'webshop.example', exact: true }).click();
  await page.getByLabel('How it went', { exact: true }).selectOption('kept');
  await page.getByRole('button', { name: `Settle: ${WHAT}`, exact: true }).click();
  await page.waitForLoadState('load');
  assert.equal(await page.getByRole('status').innerText(), "The promise's status is recorded.");
  assert.equal(await promises.getByRole('listitem').filter({ hasText: WHAT }).locator('.status').innerText(), 'kept');
  await nav.getByRole('link', { name: 'Relationships', exact: true }).waitFor();
}, WIDE);

pageTest('the due page offers a calendar feed that ends with the session', async (page) => {
  await signIn(page);
  await openFromNav(page, 'Relationships', 'Relationships');
  await page.getByRole('link', { name: 'What is due soon (and the calendar feed)', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'What is due', exact: true }).waitFor();
  const address = await page.getByLabel('Calendar address', { exact: true }).inputValue();
  assert.match(address, new RegExp(`^${BASE.replace(/[.]/g, '\\.')}/dashboard/due\\.ics\\?key=[\\w-]{43}&days=30$`));
  await screenshot(page, 'due', { docs: true });

  // Fetched from node: no cookie, as a calendar app.
  const feed = await fetch(address);
  assert.equal(feed.status, 200);
  assert.equal(feed.headers.get('content-type'), 'text/calendar; charset=utf-8');
  const text = await feed.text();
  assert.match(text, /^BEGIN:VCALENDAR\r\nVERSION:2\.0\r\n/);
  assert.match(text, /END:VCALENDAR\r\n$/);

  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/dashboard\/sign-in\?signed_out=1$/);
  const after = await fetch(address);
  assert.equal(after.status, 404, 'the feed ends with its session');
});
