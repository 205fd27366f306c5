// The owner's own forms in a real browser. The profile page: an edit saved through the form is
// what the business then reads, and a refused value comes back beside its field with nothing
// stored (the test puts the vault's e-mail back as it found it, for the files after it). The
// passphrase page: a wrong current passphrase is refused beside its field.

import assert from 'node:assert/strict';

import { BASE, pageTest, readAsBusiness, screenshot, signIn } from './harness.mjs';

/** The e-mail field (a contact-channel checkbox is labelled "E-mail" too). */
const emailField = (page) => page.getByRole('textbox', { name: 'E-mail', exact: true });

async function openProfile(page) {
  await signIn(page);
  await page.getByRole('navigation', { name: 'Main', exact: true }).getByRole('link', { name: 'Profile', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Profile and preferences', exact: true }).waitFor();
}

async function save(page) {
  await page.getByRole('button', { name: 'Save changes', exact: true }).click();
  await page.waitForLoadState('load');
}

pageTest('an e-mail saved on the profile page is what the business reads next', async (page) => {
  await openProfile(page);
  const email = emailField(page);
  const before = (await readAsBusiness()).body.profile.email;
  assert.equal(await email.inputValue(), before, 'the form shows the vault’s e-mail');
  await screenshot(page, 'profile');

  const changed = `new.${before}`;
  await email.fill(changed);
  await save(page);
  assert.equal(new URL(page.url()).pathname, '/dashboard/profile');
  assert.equal(await page.getByRole('status').innerText(), 'Your changes are saved.');
  assert.equal(await emailField(page).inputValue(), changed);
  assert.equal((await readAsBusiness()).body.profile.email, changed);

  await emailField(page).fill(before);
  await save(page);
  assert.equal((await readAsBusiness()).body.profile.email, before);
});

pageTest('a refused e-mail comes back beside its field and nothing is saved', async (page, { allowErrorStatus }) => {
  await openProfile(page);
  const before = (await readAsBusiness()).body.profile.email;
  allowErrorStatus(400, '/dashboard/profile');
  await emailField(page).fill('not an e-mail address');
  await save(page);
  const email = emailField(page);
  assert.equal(await email.getAttribute('aria-invalid'), 'true');
  // The message is one of the descriptions the field points to.
  const described = (await email.getAttribute('aria-describedby')).split(/\s+/);
  const messages = await Promise.all(
    described.map((id) => page.locator(`[id="${id}"]`).innerText().catch(() => '')),
  );
  assert.ok(messages.some((m) => m.length > 0 && !m.startsWith('Like ')), `a message beside the field: ${messages}`);
  assert.ok((await page.getByRole('alert').innerText()).startsWith('Nothing was saved.'));
  assert.equal((await readAsBusiness()).body.profile.email, before, 'nothing was stored');
  await screenshot(page, 'profile-refused');
});

pageTest('the passphrase page refuses a wrong current passphrase beside its field', async (page, { allowErrorStatus }) => {
  await signIn(page);
  await page.goto(`${BASE}/dashboard/passphrase`);
  await page.getByRole('heading', { level: 1, name: 'Passphrase', exact: true }).waitFor();
  allowErrorStatus(400, '/dashboard/passphrase');
  await page.getByLabel('Current passphrase', { exact: true }).fill('surely not the passphrase');
  await page.getByLabel('New passphrase', { exact: true }).fill('quiet orbit lantern fermenting tuesday');
  await page.getByLabel('New passphrase again', { exact: true }).fill('quiet orbit lantern fermenting tuesday');
  await page.getByRole('button', { name: 'Change the passphrase', exact: true }).click();
  await page.waitForLoadState('load');
  const current = page.getByLabel('Current passphrase', { exact: true });
  assert.equal(await current.getAttribute('aria-invalid'), 'true');
  const id = await current.getAttribute('aria-describedby');
  assert.equal(
    await page.locator(`[id="${id}"]`).innerText(),
    'This is not the current passphrase; nothing was changed.',
  );
  // The three fields line up: an input never shrinks to the width of its label or message.
  const widths = await Promise.all(
    ['Current passphrase', 'New passphrase', 'New passphrase again'].map(async (name) =>
      Math.round((await page.getByLabel(name, { exact: true }).boundingBox()).width),
    ),
  );
  assert.equal(new Set(widths).size, 1, `input widths ${widths}`);
  await screenshot(page, 'passphrase-refused');
});
