// The owner's dashboard in a real browser: signing in and out, the overview, the navigation,
// the language switch, keyboard use, a phone-sized screen and page weight. Each test starts
// signed out in a fresh browser context; see harness.mjs for what fails every test.
//
// Every page in PAGES (harness.mjs) is walked at 375 px and weighed; the owner's actions on
// each page are in actions.test.mjs and forms.test.mjs.

import assert from 'node:assert/strict';

import { BASE, PAGES, PASSPHRASE, pageTest, screenshot, signIn } from './harness.mjs';

const NAV = ['Overview', 'Profile', 'Grants', 'Requests', 'Access log', 'Notifications', 'Receipts', 'Inbox', 'Relationships', 'Contact', 'Passphrase'];

function path(page) {
  return new URL(page.url()).pathname;
}

async function isFocused(locator) {
  return locator.evaluate((el) => el === document.activeElement);
}

pageTest('a wrong passphrase is refused and the right one opens the overview', async (page, { allowErrorStatus }) => {
  await page.goto(`${BASE}/dashboard/`);
  assert.equal(path(page), '/dashboard/sign-in', 'the dashboard sends a stranger to sign in');
  await page.getByRole('heading', { level: 1, name: 'Sign in to your vault', exact: true }).waitFor();
  await screenshot(page, 'sign-in');

  allowErrorStatus(401, '/dashboard/sign-in');
  await page.getByLabel('Passphrase', { exact: true }).fill(`${PASSPHRASE} but wrong`);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  const alert = page.getByRole('alert');
  await alert.waitFor();
  assert.match(await alert.innerText(), /^Sign-in failed/);
  assert.equal(path(page), '/dashboard/sign-in', 'still on the sign-in page');
  await page.getByRole('heading', { level: 1, name: 'Sign in to your vault', exact: true }).waitFor();
  // The field says what went wrong to a screen reader, too.
  assert.equal(
    await page.getByLabel('Passphrase', { exact: true }).getAttribute('aria-describedby'),
    await alert.getAttribute('id'),
  );

  await page.getByLabel('Passphrase', { exact: true }).fill(PASSPHRASE);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL(`${BASE}/dashboard/`);
  await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();

  const who = page.getByRole('region', { name: 'Who can read what, right now', exact: true });
  // One line per live grant: the webshop's, and those of other tests (actions.test.mjs).
  const lines = await who.getByRole('listitem').allInnerTexts();
  const webshop = lines.filter((line) => line.startsWith('webshop.example '));
  assert.equal(webshop.length, 1, `one line for the webshop's grant: ${JSON.stringify(lines)}`);
  assert.match(
    webshop[0],
    /^webshop\.example can read your (e-mail and address|address and e-mail) for order delivery, until \d{1,2} [A-Z][a-z]{2} \d{4}; (not read yet|read (once|\d+ times), last .+)$/,
  );
  for (const line of lines) {
    assert.match(line, /^\S+ can read your .+ for .+, until \d{1,2} [A-Z][a-z]{2} \d{4}; (not read yet|read (once|\d+ times), last .+)$/);
  }
  // Each line leads to its grant.
  const hrefs = await who.getByRole('link').evaluateAll((links) => links.map((a) => a.getAttribute('href')));
  assert.equal(hrefs.length, lines.length);
  for (const href of hrefs) assert.match(href, /^\/dashboard\/grants\?grant=g_\w+#g_/);

  const waiting = page.getByRole('region', { name: 'Waiting for your decision', exact: true });
  assert.equal(await waiting.innerText().then((t) => t.includes('No business is waiting for an answer.')), true);

  const log = page.getByRole('region', { name: 'The access log', exact: true });
  assert.match(await log.getByRole('status').innerText(), /^Intact: \d+ entries, every one in its place\.$/);
  // Nobody signed in with a weak passphrase here, so no warning.
  assert.equal(await page.getByRole('alert').count(), 0);
  await screenshot(page, 'overview');
});

pageTest('the main navigation lists every page and marks the current one', async (page) => {
  await signIn(page);
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  const names = (await nav.getByRole('link').allInnerTexts()).map((n) => n.trim());
  assert.deepEqual(names, NAV);
  for (const name of NAV) {
    const current = await nav.getByRole('link', { name, exact: true }).getAttribute('aria-current');
    assert.equal(current === 'page', name === 'Overview', `${name}: aria-current="${current}"`);
  }
  await nav.getByRole('link', { name: 'Overview', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();
});

pageTest('the language switch shows the page in Dutch and back in English', async (page) => {
  await signIn(page);
  await page.getByRole('link', { name: 'Nederlands', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Overzicht', exact: true }).waitFor();
  assert.equal(path(page), '/dashboard/', 'the switch comes back to the same page');
  assert.equal(await page.locator('html').getAttribute('lang'), 'nl');
  await page.getByRole('region', { name: 'Wie wat kan lezen, op dit moment', exact: true }).waitFor();
  await page.getByRole('navigation', { name: 'Hoofdmenu', exact: true }).waitFor();
  await screenshot(page, 'overview-nl');

  // The choice is remembered: a new visit stays Dutch.
  await page.goto(`${BASE}/dashboard/`);
  await page.getByRole('heading', { level: 1, name: 'Overzicht', exact: true }).waitFor();

  await page.getByRole('link', { name: 'English', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();
  assert.equal(await page.locator('html').getAttribute('lang'), 'en');
});

pageTest('signing out ends the session', async (page) => {
  await signIn(page);
  await page.getByRole('button', { name: 'Sign out', exact: true }).click();
  await page.waitForURL(/\/dashboard\/sign-in\?signed_out=1$/);
  await page.getByRole('heading', { level: 1, name: 'Sign in to your vault', exact: true }).waitFor();
  assert.equal(await page.getByRole('status').innerText(), 'You are signed out.');

  await page.goto(`${BASE}/dashboard/`);
  assert.equal(path(page), '/dashboard/sign-in', 'the old session no longer opens the overview');
  await page.getByRole('heading', { level: 1, name: 'Sign in to your vault', exact: true }).waitFor();
  assert.equal(await page.getByRole('status').count(), 0);
});

pageTest('signing in and out works with the keyboard alone', async (page) => {
  await page.goto(`${BASE}/dashboard/sign-in`);
  const field = page.getByLabel('Passphrase', { exact: true });
  // The field has the focus on arrival; Tab goes on to the button and Shift+Tab comes back.
  assert.ok(await isFocused(field), 'the passphrase field is focused on arrival');
  await page.keyboard.press('Tab');
  assert.ok(await isFocused(page.getByRole('button', { name: 'Sign in', exact: true })));
  await page.keyboard.press('Shift+Tab');
  assert.ok(await isFocused(field), 'Shift+Tab reaches the passphrase field');
  await page.keyboard.type(PASSPHRASE);
  await page.keyboard.press('Enter');
  await page.waitForURL(`${BASE}/dashboard/`);
  await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();

  // The first Tab on a page reaches the skip link, and it shows itself when focused.
  await page.keyboard.press('Tab');
  const skip = page.getByRole('link', { name: 'Skip to the content', exact: true });
  assert.ok(await isFocused(skip), 'the first Tab reaches the skip link');
  const box = await skip.boundingBox();
  assert.ok(box && box.y >= 0 && box.width > 1 && box.height > 1, `the skip link is visible: ${JSON.stringify(box)}`);

  // Tab on until the sign-out button, then Enter.
  const signOut = page.getByRole('button', { name: 'Sign out', exact: true });
  for (let i = 0; i < 20 && !(await isFocused(signOut)); i += 1) await page.keyboard.press('Tab');
  assert.ok(await isFocused(signOut), 'Tab reaches the sign-out button');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/dashboard\/sign-in\?signed_out=1$/);
});

pageTest(
  'at 375 px wide the sign-in page and the overview need no sideways scrolling',
  async (page) => {
    const width = () => page.evaluate(() => document.documentElement.scrollWidth);
    await page.goto(`${BASE}/dashboard/sign-in`);
    assert.ok((await width()) <= 375, `sign-in is ${await width()} px wide`);
    await signIn(page);
    await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();
    assert.ok((await width()) <= 375, `the overview is ${await width()} px wide`);
    await screenshot(page, 'overview-375');
  },
  { viewport: { width: 375, height: 740 } },
);

pageTest('every page with its stylesheets weighs under 100 KB', async (page) => {
  await signIn(page);
  for (const { path: pagePath } of PAGES) {
    const response = await page.goto(`${BASE}${pagePath}`);
    assert.equal(response.status(), 200, `${pagePath} answers`);
    let bytes = (await response.body()).length;
    const sheets = await page.locator('link[rel="stylesheet"]').evaluateAll((links) => links.map((l) => l.href));
    assert.ok(sheets.length > 0, `${pagePath} has its stylesheet`);
    for (const href of sheets) {
      const css = await page.request.get(href);
      assert.equal(css.status(), 200, href);
      bytes += (await css.body()).length;
    }
    assert.ok(bytes < 100 * 1024, `${pagePath} weighs ${bytes} bytes with its CSS`);
  }
});

pageTest(
  'every page is reached from the navigation, marked as current there, and fits 375 px',
  async (page) => {
    await signIn(page);
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const { path: pagePath, nav: entry, heading } of PAGES.filter((p) => p.nav)) {
      await nav.getByRole('link', { name: entry, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
      assert.equal(path(page), pagePath);
      assert.equal(await nav.getByRole('link', { name: entry, exact: true }).getAttribute('aria-current'), 'page');
      assert.equal(await nav.locator('[aria-current="page"]').count(), 1, 'one current entry');
      const width = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(width <= 375, `${pagePath} is ${width} px wide`);
      await screenshot(page, `375-${entry.toLowerCase().replace(/ /g, '-')}`);
    }
  },
  { viewport: { width: 375, height: 740 } },
);
