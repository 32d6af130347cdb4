// End-to-end test of the operator console in Debian's Chromium, driven by playwright-core
// (no browser download) with axe-core for accessibility. Started by the ignored Rust test
// `console_browser::the_console_works_in_a_real_browser`, which spawns slotline, books an
// appointment by a scripted call and checks afterwards what the next call hears.
//
// Environment: SLOTLINE_BASE (http://127.0.0.1:PORT), SLOTLINE_TOKEN (admin token),
// SCREENSHOT_DIR (where PNGs go), CHROMIUM (default /usr/bin/chromium).
'use strict';
const assert = require('node:assert/strict');
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');
const { chromium } = require('playwright-core');
const { AxeBuilder } = require('@axe-core/playwright');

const BASE = process.env.SLOTLINE_BASE;
const TOKEN = process.env.SLOTLINE_TOKEN;
const SHOTS = process.env.SCREENSHOT_DIR;
const TENANT = `${BASE}/console/tenants/bella-salon`;
const DAY = '2026-11-23';

const WIDTHS = { phone: { width: 360, height: 800 }, desktop: { width: 1280, height: 900 } };

async function accessible(page, name) {
  const result = await new AxeBuilder({ page }).analyze();
  const serious = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
    [],
    `serious accessibility violations on the ${name} page`,
  );
  console.log(`ok - axe: no serious violations on the ${name} page (${result.passes.length} rules pass)`);
}

async function screenshots(page, name) {
  for (const [label, size] of Object.entries(WIDTHS)) {
    await page.setViewportSize(size);
    await page.screenshot({ path: path.join(SHOTS, `${name}-${label}.png`) });
  }
  await page.setViewportSize(WIDTHS.desktop);
}

/** A page on another origin (another port of the same host: same-site, cross-origin). */
function evilSite(target) {
  const html = `<!doctype html><title>elsewhere</title><form method="post" action="${target}">` +
    `<input name="back_date" value="${DAY}"><button id="go">Win a prize</button></form>`;
  const server = http.createServer((_, res) => res.writeHead(200, { 'content-type': 'text/html' }).end(html));
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

async function main() {
  assert.ok(BASE && TOKEN && SHOTS, 'SLOTLINE_BASE, SLOTLINE_TOKEN and SCREENSHOT_DIR are required');
  fs.mkdirSync(SHOTS, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    // playwright gives every launch a fresh temporary profile of its own.
  });
  try {
    const context = await browser.newContext({ viewport: WIDTHS.desktop });
    const page = await context.newPage();
    page.setDefaultTimeout(10000);

    // Sign in with the keyboard alone.
    await page.goto(`${BASE}/console/`);
    assert.match(page.url(), /\/console\/sign-in$/);
    await accessible(page, 'sign-in');
    await page.keyboard.press('Tab');
    await page.keyboard.type(TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${BASE}/console/`);
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'slotline_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', 'an HttpOnly, SameSite=Strict session cookie');
    console.log('ok - signed in with the keyboard');
    await page.getByRole('link', { name: 'Bella Salon' }).waitFor();
    await accessible(page, 'tenants');
    await screenshots(page, 'tenants');

    // A calendar feed, its URL shown once to copy.
    await page.goto(`${TENANT}/calendar`);
    await page.getByLabel('Shows').selectOption('tenant');
    await page.getByRole('button', { name: 'Create feed' }).click();
    const feedUrl = await page.getByLabel('Feed URL').inputValue();
    const feedPath = feedUrl.replace(/^https?:\/\/[^/]+/, '');
    const feedBefore = await (await page.request.get(`${BASE}${feedPath}`)).text();
    assert.match(feedBefore, /DTSTART:20261123T160000Z/, 'the booking is in the feed');
    console.log('ok - a feed made in the console has the booking');
    await accessible(page, 'feeds and webhooks');
    await screenshots(page, 'calendar');

    // The booking made by the scripted call, on the day view.
    await page.goto(`${TENANT}?date=${DAY}`);
    const anna = page.getByRole('region', { name: `Anna on Monday 23 November 2026` });
    await anna.getByText('Haircut · Maria Lopez').waitFor();
    await anna.getByText('10:00–10:45').waitFor();
    console.log('ok - the phone booking is on the day view in Anna\'s column');
    await accessible(page, 'day');
    await screenshots(page, 'day');

    // Move it by the form: first a refused time (error in place), then a good one.
    await anna.getByText('Move or cancel').click();
    await anna.getByLabel('New time (24-hour)').fill('25:00');
    await anna.getByRole('button', { name: 'Move' }).click();
    await page.getByText('"25:00" is not a time; use 24-hour HH:MM').waitFor();
    assert.equal(await page.getByLabel('New time (24-hour)').getAttribute('aria-invalid'), 'true');
    console.log('ok - a bad time is refused on the field');
    await page.getByLabel('New date').fill('2026-11-24');
    await page.getByLabel('New time (24-hour)').fill('14:00');
    await page.getByLabel('With').selectOption('Marco');
    await page.getByRole('button', { name: 'Move' }).click();
    await page.getByText('The appointment was moved').waitFor();
    const marco = page.getByRole('region', { name: 'Marco on Tuesday 24 November 2026' });
    await marco.getByText('14:00–14:45').waitFor();
    console.log('ok - moved by the form to Tuesday 14:00 with Marco');
    const feedAfter = await (await page.request.get(`${BASE}${feedPath}`)).text();
    assert.match(feedAfter, /DTSTART:20261124T200000Z/, 'the feed follows the move');
    console.log('ok - the feed followed the move');

    // The texts follow: the old reminder withdrawn, a new one due the day before at 14:00.
    await page.getByRole('link', { name: 'Texts' }).click();
    await page.getByText('appointment moved').first().waitFor();
    await page.getByText('Mon 23 Nov 2026, 14:00').first().waitFor();
    console.log('ok - the reminder texts followed the move');
    await accessible(page, 'texts');
    await screenshots(page, 'texts');

    await page.goto(`${TENANT}?date=${DAY}&view=week`);
    await accessible(page, 'week');
    await screenshots(page, 'week');

    // A greeting with an unknown placeholder is refused in place; a good one is previewed.
    await page.goto(`${TENANT}/wording`);
    const greeting = page.getByLabel('greeting', { exact: true });
    await greeting.fill('Hi from {busines}!');
    await page.getByRole('button', { name: 'Save wording' }).click();
    await page.locator('#w-greeting-error').waitFor();
    assert.match(await page.locator('#w-greeting-error').innerText(), /busines/);
    assert.equal(await page.getByLabel('greeting', { exact: true }).inputValue(), 'Hi from {busines}!');
    console.log('ok - the unknown placeholder is refused under the greeting');
    await page.getByLabel('greeting', { exact: true }).fill('Hello from {business}, the browser test speaking.');
    await page.getByRole('button', { name: 'Save wording' }).click();
    await page.getByText('Saved. The next call hears the new wording').waitFor();
    await page.getByText('Hello from Bella Salon, the browser test speaking. (then the AI listens)').waitFor();
    console.log('ok - the saved greeting is in the preview');
    await accessible(page, 'wording');
    await screenshots(page, 'wording');

    // Two versions of a document, then the older one restored.
    await page.goto(`${TENANT}/documents/fallback`);
    const body = page.getByLabel('TeXML');
    const original = await body.inputValue();
    await body.fill(original.replace('<Hangup/>', '<Pause length="1"/>\n  <Hangup/>'));
    await page.getByRole('button', { name: 'Save fallback.xml' }).click();
    await page.getByText(/Saved as version \d+/).waitFor();
    await page.getByLabel('TeXML').fill('<Response>\n  <Say>broken\n</Response>\n');
    await page.getByRole('button', { name: 'Save fallback.xml' }).click();
    await page.getByText(/Line \d+, column \d+/).first().waitFor();
    console.log('ok - a broken document is refused with its line and column');
    await page.goto(`${TENANT}/documents/fallback`);
    await page.getByLabel('TeXML').fill(original);
    await page.getByRole('button', { name: 'Save fallback.xml' }).click();
    await page.getByText(/Saved as version \d+/).waitFor();
    const restore = page.getByRole('button', { name: /Restore version \d+/ }).last();
    const label = await restore.innerText();
    await restore.click();
    await page.getByText(/Version \d+ is restored/).waitFor();
    assert.match(await page.getByLabel('TeXML').inputValue(), /<Pause length="1"\/>/);
    console.log(`ok - ${label.toLowerCase()} restored the older document`);
    await accessible(page, 'document');
    await screenshots(page, 'document');

    await page.goto(`${TENANT}/calls`);
    await page.getByText('+1********99').first().waitFor();
    await accessible(page, 'calls');
    await screenshots(page, 'calls');
    await page.goto(`${TENANT}/settings`);
    await accessible(page, 'settings');
    await screenshots(page, 'settings');
    await page.getByRole('link', { name: 'Health' }).click();
    await page.getByRole('heading', { name: 'Is this server ready?' }).waitFor();
    await page.getByRole('rowheader', { name: 'Bella Salon' }).waitFor();
    await accessible(page, 'health');
    await screenshots(page, 'health');

    // A form on another site posting into the console is refused.
    const evil = await evilSite(`${TENANT}/appointments/1/cancel`);
    try {
      const { port } = evil.address();
      await page.goto(`http://127.0.0.1:${port}/`);
      const [answer] = await Promise.all([
        page.waitForResponse((r) => r.url().includes('/cancel')),
        page.click('#go'),
      ]);
      assert.equal(answer.status(), 403, 'the cross-site POST is refused');
      await page.getByText('changes can only be made from the console').waitFor();
      console.log('ok - a cross-site POST is refused');
    } finally {
      evil.close();
    }
    await context.close();
  } finally {
    await browser.close();
  }
}

main().then(
  () => console.log('all browser checks passed'),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
