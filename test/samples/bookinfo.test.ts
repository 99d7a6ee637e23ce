// Bookinfo's four apps over real loopback sockets: what a user sees on /productpage as versions,
// users and failures change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { count, startBookinfo, type BookinfoWithTaps } from './helpers.ts';

const BASE = (b: BookinfoWithTaps) => `http://127.0.0.1:${b.productpage}`;
const STAR = '<span class="glyphicon glyphicon-star"></span>';
const EMPTY = '<span class="glyphicon glyphicon-star-empty"></span>';
const R1 = 'An extremely entertaining play by Shakespeare. The slapstick humour is refreshing!';
const R2 = 'Absolutely fun and entertaining. The play lacks thematic depth when compared to other plays by Shakespeare.';

async function page(b: BookinfoWithTaps, headers: Record<string, string> = {}): Promise<string> {
  const res = await fetch(`${BASE(b)}/productpage`, { headers });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/html/);
  return res.text();
}

async function withBookinfo(o: Parameters<typeof startBookinfo>[0], fn: (b: BookinfoWithTaps) => Promise<void>): Promise<void> {
  const b = await startBookinfo(o);
  try {
    await fn(b);
  } finally {
    await b.close();
  }
}

function assertDetails(html: string): void {
  assert.match(html, /Book Details/);
  for (const v of ['paperback', '200', 'PublisherA', 'English', '1234567890', '123-1234567890']) assert.ok(html.includes(v), `details value ${v}`);
  for (const label of ['Type:', 'Pages:', 'Publisher:', 'Language:', 'ISBN-10:', 'ISBN-13:']) assert.ok(html.includes(label), `label ${label}`);
}

test('details, ratings and reviews answer with the original JSON', async () => {
  await withBookinfo({ reviewsVersion: 'v2' }, async (b) => {
    const d = await fetch(`http://127.0.0.1:${b.details}/details/0`);
    assert.equal(d.status, 200);
    const details = await d.json();
    assert.deepEqual(details, { id: 0, author: 'William Shakespeare', year: 1595, type: 'paperback', pages: 200, publisher: 'PublisherA', language: 'English', 'ISBN-10': '1234567890', 'ISBN-13': '123-1234567890' });
    assert.equal((await fetch(`http://127.0.0.1:${b.details}/details/abc`)).status, 400);

    const r = await (await fetch(`http://127.0.0.1:${b.ratings}/ratings/0`)).json();
    assert.deepEqual(r, { id: 0, ratings: { Reviewer1: 5, Reviewer2: 4 } });
    assert.equal((await fetch(`http://127.0.0.1:${b.ratings}/ratings/x`)).status, 400);

    const rv = (await (await fetch(`http://127.0.0.1:${b.reviews}/reviews/0`)).json()) as any;
    assert.equal(rv.id, '0');
    assert.equal(rv.podname, 'reviews-v2-test');
    assert.equal(rv.clustername, 'null');
    assert.deepEqual(rv.reviews, [
      { reviewer: 'Reviewer1', text: R1, rating: { stars: 5, color: 'black' } },
      { reviewer: 'Reviewer2', text: R2, rating: { stars: 4, color: 'black' } },
    ]);
    for (const port of [b.details, b.ratings, b.reviews, b.productpage]) assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200);
  });
});

test('reviews v1 page: title, summary, details, two reviews, no stars', async () => {
  await withBookinfo({ reviewsVersion: 'v1' }, async (b) => {
    const html = await page(b);
    assert.match(html, /The Comedy of Errors/);
    assert.match(html, /Summary: .*early plays/);
    assertDetails(html);
    assert.match(html, /Book Reviews/);
    for (const s of ['Reviewer1', 'Reviewer2', R1, R2]) assert.ok(html.includes(s), s);
    assert.equal(count(html, 'glyphicon-star'), 0);
    assert.ok(!html.includes('<font color='));
    assert.match(html, /Reviews served by:[\s\S]*reviews-v1-test/);
  });
});

test('reviews v2 page has black stars (5 and 4 of 5)', async () => {
  await withBookinfo({ reviewsVersion: 'v2' }, async (b) => {
    const html = await page(b);
    assert.equal(count(html, '<font color="black">'), 2);
    assert.equal(count(html, '<font color="red">'), 0);
    assert.equal(count(html, STAR), 9);
    assert.equal(count(html, EMPTY), 1);
  });
});

test('reviews v3 page has red stars', async () => {
  await withBookinfo({ reviewsVersion: 'v3' }, async (b) => {
    const html = await page(b);
    assert.equal(count(html, '<font color="red">'), 2);
    assert.equal(count(html, '<font color="black">'), 0);
    assert.equal(count(html, STAR), 9);
  });
});

test('signed-in jason is shown and end-user reaches reviews and ratings; logout forgets him', async () => {
  await withBookinfo({ reviewsVersion: 'v2', reviewsTap: {}, ratingsTap: {} }, async (b) => {
    const login = await fetch(`${BASE(b)}/login`, { method: 'POST', body: new URLSearchParams({ username: 'jason', passwd: 'x' }), redirect: 'manual' });
    assert.equal(login.status, 302);
    assert.equal(login.headers.get('location'), '/productpage');
    const setCookie = login.headers.get('set-cookie') ?? '';
    assert.match(setCookie, /^session=[^;]+/);
    const cookie = setCookie.split(';')[0]!;

    const html = await page(b, { cookie });
    assert.match(html, /jason \( <a href="logout">sign out<\/a> \)/);
    assert.equal(b.reviewsTap!.seen.at(-1)!.headers['end-user'], 'jason');
    assert.equal(b.ratingsTap!.seen.at(-1)!.headers['end-user'], 'jason');

    // A forged cookie or a client-sent end-user header does not make anyone jason.
    await page(b, { cookie: 'session=eyJ1c2VyIjoiamFzb24ifQ.forged', 'end-user': 'jason' });
    assert.equal(b.ratingsTap!.seen.at(-1)!.headers['end-user'], undefined);

    const logout = await fetch(`${BASE(b)}/logout`, { headers: { cookie }, redirect: 'manual' });
    assert.equal(logout.status, 302);
    assert.match(logout.headers.get('set-cookie') ?? '', /session=;.*Max-Age=0/);
    const anon = await page(b);
    assert.ok(!anon.includes('jason'));
    assert.match(anon, /name="username"/);
  });
});

test('tracing headers are propagated productpage -> reviews -> ratings', async () => {
  await withBookinfo({ reviewsVersion: 'v3', ratingsTap: {} }, async (b) => {
    const trace = {
      'x-request-id': 'req-123',
      'x-b3-traceid': '80f198ee56343ba864fe8b2a57d3eff7',
      'x-b3-spanid': 'e457b5a2e4d86bd1',
      'x-b3-parentspanid': '05e3ac9a4f6e3b90',
      'x-b3-sampled': '1',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      tracestate: 'congo=t61rcWkgMzE',
    };
    await page(b, trace);
    const seen = b.ratingsTap!.seen.at(-1)!.headers;
    for (const [k, v] of Object.entries(trace)) assert.equal(seen[k], v, k);
  });
});

test('ratings down: v2 page says the ratings service is unavailable', async () => {
  await withBookinfo({ reviewsVersion: 'v2', ratingsDown: true }, async (b) => {
    const html = await page(b);
    assert.equal(count(html, 'Ratings service is currently unavailable'), 2);
    assert.equal(count(html, STAR), 0);
    assert.ok(html.includes(R1));
  });
});

test('reviews down: page shows the reviews error and still renders details', async () => {
  await withBookinfo({ reviewsDown: true }, async (b) => {
    const html = await page(b);
    assert.match(html, /Error fetching product reviews!/);
    assert.ok(html.includes('Sorry, product reviews are currently unavailable for this book.'));
    assert.ok(!html.includes('Reviewer1'));
    assertDetails(html);
  });
});

test('details down: page shows the details error and still renders reviews', async () => {
  await withBookinfo({ detailsDown: true }, async (b) => {
    const html = await page(b);
    assert.match(html, /Error fetching product details!/);
    assert.ok(html.includes('Sorry, product details are currently unavailable for this book.'));
    assert.ok(!html.includes('PublisherA'));
    assert.ok(html.includes('Reviewer2'));
  });
});

test('reviews slower than 3 s: productpage tries twice, 3 s each, then shows the error', async () => {
  await withBookinfo({ reviewsVersion: 'v1', reviewsTap: { delayMs: 4000 } }, async (b) => {
    const t0 = Date.now();
    const html = await page(b);
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 5800 && elapsed < 7500, `took ${elapsed} ms`);
    assert.equal(b.reviewsTap!.seen.length, 2);
    assert.ok(html.includes('Sorry, product reviews are currently unavailable for this book.'));
    assertDetails(html);
  });
});

test('JSON API, static files and metrics', async () => {
  await withBookinfo({ reviewsVersion: 'v3' }, async (b) => {
    const list = (await (await fetch(`${BASE(b)}/api/v1/products`)).json()) as any[];
    assert.equal(list.length, 1);
    assert.equal(list[0].title, 'The Comedy of Errors');
    const d = (await (await fetch(`${BASE(b)}/api/v1/products/0`)).json()) as any;
    assert.equal(d.publisher, 'PublisherA');
    const rv = (await (await fetch(`${BASE(b)}/api/v1/products/0/reviews`)).json()) as any;
    assert.equal(rv.reviews[0].rating.color, 'red');
    const ra = (await (await fetch(`${BASE(b)}/api/v1/products/0/ratings`)).json()) as any;
    assert.deepEqual(ra.ratings, { Reviewer1: 5, Reviewer2: 4 });
    assert.equal((await fetch(`${BASE(b)}/api/v1/products/abc`)).status, 404);

    const css = await fetch(`${BASE(b)}/static/bookinfo.css`);
    assert.equal(css.status, 200);
    assert.match(css.headers.get('content-type') ?? '', /text\/css/);
    assert.match(await css.text(), /glyphicon-star/);
    assert.equal((await fetch(`${BASE(b)}/static/../package.json`)).status, 404);
    assert.match(await (await fetch(`${BASE(b)}/metrics`)).text(), /request_result_total\{destination_app="details",response_code="200"\} 1/);
  });
});

test('reviews down via the API: status and error body pass through', async () => {
  await withBookinfo({ reviewsDown: true }, async (b) => {
    const res = await fetch(`${BASE(b)}/api/v1/products/0/reviews`);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: 'Sorry, product reviews are currently unavailable for this book.' });
  });
});
