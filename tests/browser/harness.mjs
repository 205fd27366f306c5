// What every browser test shares: the settings the Rust test passes (crates/kluis-cli/tests/
// browser.rs), one headless chromium per test file, and `pageTest`, which gives each test a
// fresh browser context (no cookies) whose page fails the test on any console error, uncaught
// exception or request to another origin. Controls are found by their accessible names only
// (labels, roles), so the tests also prove the pages can be used without seeing them.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run these tests through \`cargo test -p kluis-cli --test browser\``);
  }
  return value;
}

/** The server under test, e.g. `http://127.0.0.1:40123` (no trailing slash). */
export const BASE = required('KLUIS_BASE_URL').replace(/\/+$/, '');
export const ORIGIN = new URL(BASE).origin;
export const PASSPHRASE = required('KLUIS_PASSPHRASE');
/** A grant token the Rust test created: webshop.example, e-mail and address, order delivery. */
export const GRANT_TOKEN = required('KLUIS_GRANT_TOKEN');
/** The vault's directory, for tests that need to look at it beside the pages. */
export const VAULT_DIR = required('KLUIS_VAULT');
/**
 * Grants the Rust test made for the tests that change one (all e-mail and address, 30 days):
 * `{ narrow: { business, token }, revoke: { business, token } }`.
 */
export const ACTION_GRANTS = JSON.parse(required('KLUIS_ACTION_GRANTS'));
/** A grant token of newsletter.example with a contact right (channel inbox, topic offers). */
export const INBOX_TOKEN = required('KLUIS_INBOX_TOKEN');
/** The business on the SDK (crates/kluis-cli/tests/browser/business.rs): POST /ask, GET /read. */
export const BUSINESS_URL = required('KLUIS_BUSINESS_URL').replace(/\/+$/, '');
const SCREENSHOTS = required('KLUIS_SCREENSHOTS');
const CHROMIUM = process.env.KLUIS_CHROMIUM || '/usr/bin/chromium';

/**
 * Every page of the dashboard the tests weigh and walk: its path, and for a signed-in page its
 * navigation entry and its heading. Add each page here as it lands.
 */
export const PAGES = [
  { path: '/dashboard/sign-in' },
  { path: '/dashboard/', nav: 'Overview', heading: 'Overview' },
  { path: '/dashboard/profile', nav: 'Profile', heading: 'Profile and preferences' },
  { path: '/dashboard/grants', nav: 'Grants', heading: 'Grants' },
  { path: '/dashboard/requests', nav: 'Requests', heading: 'Access requests' },
  { path: '/dashboard/log', nav: 'Access log', heading: 'Access log' },
  { path: '/dashboard/notifications', nav: 'Notifications', heading: 'Notifications' },
  { path: '/dashboard/receipts', nav: 'Receipts', heading: 'Consent receipts' },
  { path: '/dashboard/contact', nav: 'Contact', heading: 'Contact' },
  { path: '/dashboard/inbox', nav: 'Inbox', heading: 'Inbox' },
  { path: '/dashboard/relationships', nav: 'Relationships', heading: 'Relationships' },
  { path: '/dashboard/relationships/webshop.example' },
  { path: '/dashboard/due' },
  { path: '/dashboard/passphrase', nav: 'Passphrase', heading: 'Passphrase' },
];

let browser;

before(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // launch() gives chromium a fresh temporary profile (deleted on close), so nothing remembered
  // from another run can make a test pass.
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Without the background-networking flags chromium keeps calling Google's services.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
});

/**
 * Saves a screenshot of the whole page as `<name>.png` under target/browser/. With `docs`, also
 * `docs-<name>.png`: only what the viewport shows, the size the documentation uses (run those
 * tests at 1100 px wide).
 */
export async function screenshot(page, name, { docs = false } = {}) {
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
  if (docs) await page.screenshot({ path: join(SCREENSHOTS, `docs-${name}.png`), fullPage: false });
}

/**
 * Collects what must never happen on a dashboard page. `allowed` holds `"<status> <path>"` of
 * error answers a test provokes on purpose (chromium logs each as a console error).
 */
function guard(page, allowed) {
  const problems = [];
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    const status = message.text().match(/^Failed to load resource: the server responded with a status of (\d+)/);
    const where = message.location().url;
    if (status && where && allowed.has(`${status[1]} ${new URL(where).pathname}`)) return;
    problems.push(`console error: ${message.text()}${where ? ` (${where})` : ''}`);
  });
  page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.message}`));
  // The dashboard has no script, so no alert, confirm or prompt may ever open: one would mean
  // markup a business wrote ran as code.
  page.on('dialog', async (dialog) => {
    problems.push(`a ${dialog.type()} dialog opened: ${dialog.message()}`);
    await dialog.dismiss().catch(() => {});
  });
  page.on('request', (request) => {
    const url = request.url();
    if (new URL(url).origin !== ORIGIN) problems.push(`request to another origin: ${url}`);
  });
  return problems;
}

/**
 * A test with a fresh, guarded page: `body(page, { allowErrorStatus })` runs, then the test
 * fails if the page logged a console error, threw, opened a dialog, or asked another origin
 * for anything.
 * `allowErrorStatus(401, '/dashboard/sign-in')` lets one provoked error answer through. A
 * failing test leaves a screenshot `failed-<name>.png` behind.
 */
export function pageTest(name, body, { viewport = { width: 1280, height: 900 }, locale = 'en-US' } = {}) {
  test(name, async () => {
    const context = await browser.newContext({ viewport, locale });
    // Pages answer in milliseconds; a missing control should fail fast, not after 30 s.
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const allowed = new Set();
    const problems = guard(page, allowed);
    const allowErrorStatus = (status, path) => allowed.add(`${status} ${path}`);
    try {
      await body(page, { allowErrorStatus });
      assert.deepEqual(problems, [], 'the page must stay quiet and on its own origin');
    } catch (error) {
      const slug = name.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
      await screenshot(page, `failed-${slug}`).catch(() => {});
      throw error;
    } finally {
      await context.close();
    }
  });
}

/** Signs in from the dashboard's front door and waits for the overview. */
export async function signIn(page) {
  await page.goto(`${BASE}/dashboard/`);
  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/dashboard/`);
}

/** Follows the main navigation to `entry` and waits for the page's heading. */
export async function openFromNav(page, entry, heading) {
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: entry, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
}

/** `GET /v1/data` as the business holding `token` (from node, not from a page). */
export async function readAsBusiness(token = GRANT_TOKEN) {
  const response = await fetch(`${BASE}/v1/data`, { headers: { authorization: `Bearer ${token}` } });
  return { status: response.status, body: await response.json().catch(() => null) };
}

/** Makes the SDK business send an access request; what it asked (`{ id, business, fields, purpose }`). */
export async function businessAsks() {
  const response = await fetch(`${BUSINESS_URL}/ask`, { method: 'POST' });
  assert.equal(response.status, 200, `the business could ask: ${await response.clone().text()}`);
  return response.json();
}

/** What the SDK business reads now with the grant its last request got: `{ status, body }`. */
export async function businessReads() {
  const response = await fetch(`${BUSINESS_URL}/read`);
  return { status: response.status, body: await response.json().catch(() => null) };
}
