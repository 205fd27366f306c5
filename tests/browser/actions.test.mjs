// The owner's actions in a real browser, each checked where it matters: in what a business can
// read afterwards. A business on the real SDK (crates/kluis-cli/tests/browser/business.rs) asks
// for access; the owner approves part of it on the Requests page, and the business reads that
// part alone; the approval's receipt and the business's read are then found on the Receipts
// and Access log pages. Narrowing, revoking and creating a grant are checked with the token.
//
// Order: the runner runs the tests of a file in order, and the first three are one story (the
// request approved, then its receipt, then its read in the log); each of the others stands
// alone, on a grant of its own (KLUIS_ACTION_GRANTS), so no other file's grant changes.
// The last one takes the pages' pictures for the docs, when the vault has something to show.
// These tests run at 1100 px wide: the width of the screenshots in docs/.

import assert from 'node:assert/strict';

import {
  ACTION_GRANTS,
  BASE,
  businessAsks,
  businessReads,
  openFromNav,
  pageTest,
  readAsBusiness,
  screenshot,
  signIn,
} from './harness.mjs';

const PROFILE = JSON.parse(process.env.KLUIS_PROFILE ?? '{}');
const WIDE = { viewport: { width: 1100, height: 800 } };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The date `days` from now as the dashboard writes it (`7 May 2026`, UTC). */
function dateIn(days) {
  const d = new Date(Date.now() + days * 86_400_000);
  return `${d.getUTCDate()} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()}`;
}

/** `text`, with `{date}` as the date `days` from now, either as the test began or as it ends. */
function withDateIn(days, text, began) {
  return [began, dateIn(days)].map((date) => text.replace('{date}', date));
}

/** A card (a list item) under `within` whose heading is exactly `name`. */
function card(page, within, name) {
  return within.getByRole('listitem').filter({ has: page.getByRole('heading', { name, exact: true }) });
}

/** The business the SDK request came from, as the dashboard names it: `name (id)`. */
let asked;
const who = () => `${asked.business.name} (${asked.business.id})`;

pageTest(
  'a request sent with the SDK and approved for one of its fields lets the business read that field alone',
  async (page) => {
    asked = await businessAsks();
    assert.deepEqual(asked.fields, ['/profile/email', '/profile/address']);
    assert.match(asked.business.name, /<script>/, 'the business name holds markup, to prove it is escaped');

    await signIn(page);
    const waiting = page.getByRole('region', { name: 'Waiting for your decision', exact: true });
    assert.deepEqual(await waiting.getByRole('listitem').allInnerTexts(), [
      // The vault keeps fields in their pointers' order.
      `${who()} asks to read your address and e-mail for ${asked.purpose}`,
    ]);
    await waiting.getByRole('link').click();
    await page.getByRole('heading', { level: 1, name: 'Access requests', exact: true }).waitFor();

    // The name is text: the page has no script element, and no dialog opened (harness.mjs).
    const request = card(page, page.getByRole('region', { name: 'Waiting for your decision', exact: true }), who());
    await request.waitFor();
    assert.equal(await page.evaluate(() => document.scripts.length), 0, 'no script on the page');
    await screenshot(page, 'requests-waiting', { docs: true });

    const email = request.getByRole('checkbox', { name: 'e-mail', exact: true });
    const address = request.getByRole('checkbox', { name: 'address', exact: true });
    assert.ok((await email.isChecked()) && (await address.isChecked()), 'all it asked for is ticked at first');
    await address.uncheck();
    const expires = request.getByLabel('Expires after', { exact: true });
    assert.equal(await expires.locator('option:checked').innerText(), '30 days (asked)');
    await expires.selectOption({ label: '7 days' });
    const began = dateIn(7);
    await request.getByRole('button', { name: 'Approve', exact: true }).click();
    await page.waitForURL(/\/dashboard\/requests\?approved=/);
    const notice = await page.getByRole('status').innerText();
    assert.ok(
      withDateIn(7, `Approved: ${who()} may read your e-mail until {date}.`, began).includes(notice),
      notice,
    );
    const decided = card(page, page.getByRole('region', { name: 'Decided and lapsed', exact: true }), who());
    assert.match(await decided.innerText(), /Approved on .+: it may read your e-mail until /);
    await screenshot(page, 'requests-decided');

    const read = await businessReads();
    assert.equal(read.status, 200, JSON.stringify(read.body));
    assert.deepEqual(read.body, { profile: { email: PROFILE.email } }, 'the e-mail alone, no address');
  },
  WIDE,
);

pageTest("the approval's consent receipt is listed, and its decoded view names the business and the field", async (page) => {
  assert.ok(asked, 'runs after the approval above');
  await signIn(page);
  await openFromNav(page, 'Receipts', 'Consent receipts');
  const line = card(page, page.getByRole('main'), who());
  assert.equal(await line.count(), 1, 'one receipt for the approval');
  assert.match(await line.innerText(), new RegExp(`${asked.purpose}: e-mail\\n`));
  await screenshot(page, 'receipts', { docs: true });

  await line.getByRole('link', { name: 'View the receipt', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Consent receipt', exact: true }).waitFor();
  const main = page.getByRole('main');
  const text = await main.innerText();
  assert.ok(text.includes(`Given to\n${who()}`), text);
  const { contact, email, address, phone } = asked.business;
  for (const shown of [`Contact\n${contact}`, `E-mail\n${email}`, `Postal address\n${address}`, `Phone\n${phone}`]) {
    assert.ok(text.includes(shown), `${shown} in ${text}`);
  }
  const purpose = card(page, main, asked.purpose);
  assert.deepEqual(await purpose.getByRole('listitem').allInnerTexts(), ['e-mail /profile/email']);
  assert.equal(await page.evaluate(() => document.scripts.length), 0, 'no script on the page');
  await screenshot(page, 'receipt', { docs: true });

  // The download is the signed receipt itself, for the same business and field.
  const href = await page.getByRole('link', { name: 'Download the signed receipt (.jws)', exact: true }).getAttribute('href');
  const download = await page.request.get(`${BASE}${href}`);
  assert.equal(download.status(), 200);
  assert.equal(download.headers()['content-type'], 'application/jose');
  const jws = await download.text();
  assert.match(jws, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const claims = JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString());
  // Every member Kantara CR 1.1 requires of the PII controller, as the business gave it.
  assert.deepEqual(claims.piiControllers, [
    { piiController: asked.business.name, onBehalf: false, contact, address, email, phone },
  ]);
  const fields = claims.services.flatMap((s) => s.purposes.flatMap((p) => p.piiCategory));
  assert.deepEqual(fields, ['/profile/email']);
}, WIDE);

pageTest("the business's read is in the access log's timeline, in words", async (page) => {
  assert.ok(asked, 'runs after the approval and the read above');
  await signIn(page);
  await openFromNav(page, 'Access log', 'Access log');
  await page.getByLabel('Business', { exact: true }).fill(asked.business.id);
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await page.waitForURL(/\/dashboard\/log\?.*business=bakery\.example/);
  const timeline = page.getByRole('region', { name: 'What happened', exact: true });
  const lines = (await timeline.getByRole('listitem').allInnerTexts()).map((l) => l.split('\n')[0]);
  const id = asked.business.id.replace('.', '\\.');
  assert.ok(
    lines.some((l) => new RegExp(`^\\d\\d:\\d\\d(–\\d\\d:\\d\\d)? ${id} read your e-mail (once|twice|\\d+ times), for ${asked.purpose}$`).test(l)),
    `a line for the read: ${JSON.stringify(lines)}`,
  );
  assert.ok(
    lines.some((l) => l.endsWith(`You approved ${asked.business.id}'s request: access to your e-mail, for ${asked.purpose} (dashboard)`)),
    `a line for the approval: ${JSON.stringify(lines)}`,
  );
  // Only this business's lines are left after the filter.
  for (const l of lines) assert.ok(l.includes(asked.business.id), l);
  // The docs show the filters and the timeline, the chart above them scrolled away.
  await page.getByRole('heading', { level: 2, name: 'What happened', exact: true }).evaluate((h) => h.scrollIntoView());
  await screenshot(page, 'log', { docs: true });
}, WIDE);

pageTest(
  'narrowing a grant to one field: its token then reads that field alone',
  async (page) => {
    const { business, token } = ACTION_GRANTS.narrow;
    const before = await readAsBusiness(token);
    assert.equal(before.status, 200);
    assert.deepEqual(Object.keys(before.body.profile).sort(), ['address', 'email']);

    await signIn(page);
    await openFromNav(page, 'Grants', 'Grants');
    const active = page.getByRole('region', { name: 'Active', exact: true });
    await card(page, active, business).getByRole('link', { name: 'Narrow…', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Narrow a grant', exact: true }).waitFor();
    await screenshot(page, 'grant-narrow', { docs: true });
    const keep = page.getByRole('group', { name: 'Fields it keeps', exact: true });
    assert.deepEqual(await keep.getByRole('checkbox').evaluateAll((boxes) => boxes.map((b) => b.checked)), [true, true]);
    await keep.getByRole('checkbox', { name: 'address', exact: true }).uncheck();
    await page.getByRole('button', { name: 'Keep only these fields', exact: true }).click();
    await page.waitForURL(/\/dashboard\/grants(\?|$)/);
    assert.equal(
      await page.getByRole('status').innerText(),
      `Narrowed: ${business} can now read only your e-mail, with the token it has.`,
    );
    assert.match(await card(page, active, business).innerText(), /Fields\ne-mail \(\/profile\/email\)\n/);

    const after = await readAsBusiness(token);
    assert.equal(after.status, 200);
    assert.deepEqual(after.body, { profile: { email: PROFILE.email } });
  },
  WIDE,
);

pageTest(
  "revoking a grant after its confirmation page: the business's next read is refused",
  async (page) => {
    const { business, token } = ACTION_GRANTS.revoke;
    assert.equal((await readAsBusiness(token)).status, 200);

    await signIn(page);
    await openFromNav(page, 'Grants', 'Grants');
    const active = page.getByRole('region', { name: 'Active', exact: true });
    await card(page, active, business).getByRole('link', { name: 'Revoke…', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Revoke access', exact: true }).waitFor();
    assert.ok(
      (await page.getByRole('main').innerText()).includes(
        `${business} will no longer be able to read your address and e-mail (for flower delivery).`,
      ),
    );
    await screenshot(page, 'grant-revoke', { docs: true });
    // Seeing the confirmation changes nothing.
    assert.equal((await readAsBusiness(token)).status, 200, 'not revoked before the button');

    await page.getByRole('button', { name: 'Revoke access', exact: true }).click();
    await page.waitForURL(/\/dashboard\/grants(\?|$)/);
    assert.equal(
      await page.getByRole('status').innerText(),
      `Revoked: ${business} can no longer read your address and e-mail.`,
    );
    assert.equal(await card(page, active, business).count(), 0, 'no longer active');
    const ended = page.getByRole('region', { name: 'Revoked and expired', exact: true });
    assert.match(await card(page, ended, business).innerText(), /Status\nrevoked\nExpiry\nrevoked on /);

    const after = await readAsBusiness(token);
    assert.equal(after.status, 401);
    assert.equal(after.body?.type, 'urn:kluis:problem:invalid-token');
  },
  WIDE,
);

pageTest(
  'a grant given on the Grants page: the token shown once reads exactly the fields ticked',
  async (page) => {
    await signIn(page);
    await openFromNav(page, 'Grants', 'Grants');
    await page.getByRole('link', { name: 'Give a business access…', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Give a business access', exact: true }).waitFor();
    await page.getByLabel('Business', { exact: true }).fill('dentist.example');
    await page.getByRole('checkbox', { name: 'name', exact: true }).check();
    await page.getByRole('checkbox', { name: 'date of birth', exact: true }).check();
    await page.getByLabel('Purpose', { exact: true }).fill('appointment reminders');
    await page.getByLabel('Expires after', { exact: true }).selectOption({ label: '7 days' });
    await screenshot(page, 'grant-new', { docs: true });
    const began = dateIn(7);
    await page.getByRole('button', { name: 'Give access', exact: true }).click();

    await page.getByRole('heading', { level: 1, name: 'Access given', exact: true }).waitFor();
    const said = await page.getByRole('status').innerText();
    assert.ok(
      withDateIn(7, 'dentist.example can read your date of birth and name for appointment reminders, until {date}.', began).includes(said),
      said,
    );
    const token = await page.getByLabel('Grant token', { exact: true }).inputValue();
    assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    await screenshot(page, 'grant-created', { docs: true });

    const read = await readAsBusiness(token);
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { profile: { name: PROFILE.name, birthdate: PROFILE.birthdate } });

    // Shown once: the grants page lists the grant, not its token.
    await page.getByRole('link', { name: 'Back to the grants', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Grants', exact: true }).waitFor();
    await card(page, page.getByRole('region', { name: 'Active', exact: true }), 'dentist.example').waitFor();
    assert.ok(!(await page.content()).includes(token), 'the token is not shown again');
  },
  WIDE,
);

pageTest(
  'the pages as the docs show them',
  async (page) => {
    await signIn(page);
    await screenshot(page, 'overview-wide', { docs: true });
    for (const [entry, heading, name] of [
      ['Profile', 'Profile and preferences', 'profile-wide'],
      ['Grants', 'Grants', 'grants'],
      ['Passphrase', 'Passphrase', 'passphrase'],
    ]) {
      await openFromNav(page, entry, heading);
      await screenshot(page, name, { docs: true });
    }
  },
  WIDE,
);
