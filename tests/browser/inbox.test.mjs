// The owner's inbox in a real browser: a business leaves a message whose subject and body hold
// markup (POST /v1/inbox with its grant's contact right); the navigation counts it, the message
// reads as text (no script runs: the harness fails the test on any dialog), and "No more about
// offers from newsletter.example" blocks the topic in one step and says so on the page.

import assert from 'node:assert/strict';

import { BASE, INBOX_TOKEN, pageTest, screenshot, signIn } from './harness.mjs';

const SUBJECT = '<b>Spring</b> sale';
const BODY = 'Twenty percent off.\n<script>alert(1)</script><img src=x onerror=alert(2)>';

pageTest('a message is read as text and its topic blocked in one step', async (page) => {
  const sent = await fetch(`${BASE}/v1/inbox`, {
    method: 'POST',
    headers: { authorization: `Bearer ${INBOX_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'offers', subject: SUBJECT, body: BODY }),
  });
  assert.equal(sent.status, 201, `the business could leave a message: ${await sent.clone().text()}`);

  await signIn(page);
  const nav = page.getByRole('navigation', { name: 'Main', exact: true });
  await nav.getByRole('link', { name: 'Inbox (1)', exact: true }).click();
  await page.getByRole('heading', { level: 1, name: 'Inbox', exact: true }).waitFor();
  await page.getByRole('link', { name: `Unread: ${SUBJECT}`, exact: true }).click();

  await page.getByRole('heading', { level: 1, name: SUBJECT, exact: true }).waitFor();
  assert.equal(await page.locator('#message-body').innerText(), BODY, 'the body as text, line breaks kept');
  assert.equal(await page.locator('#message-body b, #message-body script, #message-body img').count(), 0);
  await nav.getByRole('link', { name: 'Inbox', exact: true }).waitFor();
  await screenshot(page, 'inbox-message');

  await page.getByRole('button', { name: 'No more about offers from newsletter.example', exact: true }).click();
  await page.waitForLoadState('load');
  const said = await page.getByRole('status').allInnerTexts();
  assert.ok(
    said.includes('Blocked: newsletter.example can no longer contact you about offers.'),
    `the page says it is blocked: ${said}`,
  );
  assert.ok(said.some((s) => s.startsWith('Changed your mind? Allow it again')), `and how to undo it: ${said}`);

  // The business is refused from now on.
  const refused = await fetch(`${BASE}/v1/inbox`, {
    method: 'POST',
    headers: { authorization: `Bearer ${INBOX_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ topic: 'offers', subject: 'Again', body: 'More offers' }),
  });
  assert.equal(refused.status, 403);
});
