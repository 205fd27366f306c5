// The read path as a business sees it, beside what the owner then sees in the dashboard: the
// grant token the Rust test made reads exactly the granted fields, and the read shows up on
// the owner's overview. What the owner's actions do to what a business reads: actions.test.mjs.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BASE, GRANT_TOKEN, pageTest, readAsBusiness, signIn } from './harness.mjs';

/** What the Rust test stored and granted (KLUIS_PROFILE, KLUIS_GRANTED_FIELDS). */
const PROFILE = JSON.parse(process.env.KLUIS_PROFILE ?? '{}');
const GRANTED = (process.env.KLUIS_GRANTED_FIELDS ?? '').split(',').filter(Boolean);

/** The profile cut down to the granted `/profile/<name>` fields. */
function granted() {
  const profile = {};
  for (const pointer of GRANTED) {
    const name = pointer.replace(/^\/profile\//, '');
    profile[name] = PROFILE[name];
  }
  return { profile };
}

/** How often the overview says the grant was read (0 for "not read yet"). */
async function readsOnOverview(page) {
  await page.goto(`${BASE}/dashboard/`);
  const who = page.getByRole('region', { name: 'Who can read what, right now', exact: true });
  const line = await who.getByRole('listitem').filter({ hasText: 'webshop.example' }).innerText();
  if (line.endsWith('; not read yet')) return { count: 0, line };
  const match = line.match(/; read (once|(\d+) times), last (.+)$/);
  assert.ok(match, `the line says how often it was read: ${line}`);
  return { count: match[1] === 'once' ? 1 : Number(match[2]), line };
}

test('the business reads exactly the granted fields', async () => {
  assert.ok(GRANTED.length > 0 && Object.keys(PROFILE).length > GRANTED.length, 'some fields are not granted');
  const { status, body } = await readAsBusiness();
  assert.equal(status, 200);
  assert.deepEqual(body, granted());
});

test('a token that is not the grant is refused with a problem', async () => {
  // One character of the signature changed (not the last: its low bits are only padding).
  const at = GRANT_TOKEN.length - 10;
  const tampered = GRANT_TOKEN.slice(0, at) + (GRANT_TOKEN[at] === 'A' ? 'B' : 'A') + GRANT_TOKEN.slice(at + 1);
  const { status, body } = await readAsBusiness(tampered);
  assert.equal(status, 401);
  assert.equal(body?.type, 'urn:kluis:problem:invalid-token');
});

pageTest("the owner's overview counts the business's read", async (page) => {
  await signIn(page);
  const before = await readsOnOverview(page);
  const { status } = await readAsBusiness();
  assert.equal(status, 200);
  const after = await readsOnOverview(page);
  assert.equal(after.count, before.count + 1, `before: ${before.line}; after: ${after.line}`);
  assert.match(after.line, /, last just now$/);
});
