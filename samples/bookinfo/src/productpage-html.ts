/**
 * productpage's HTML. The markers that Istio's tasks and our tests look for are kept as the
 * original renders them: each star is <span class="glyphicon glyphicon-star"> (or -star-empty)
 * inside <font color="black|red">, and the error texts are word for word.
 */
import { escapeHtml as h } from '../../common/http.ts';

export interface Product {
  id: number;
  title: string;
  descriptionHtml: string;
}

export interface Review {
  reviewer: string;
  text: string;
  rating?: { stars?: number; color?: string; error?: string };
}

export interface ReviewsBody {
  reviews?: Review[];
  podname?: string;
  clustername?: string;
  error?: string;
}

export interface PageModel {
  product: Product;
  user: string | undefined;
  detailsStatus: number;
  details: Record<string, unknown>;
  reviewsStatus: number;
  reviews: ReviewsBody;
}

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>${h(title)}</title>
<link rel="stylesheet" href="static/bookinfo.css">
</head>
<body>
${body}
</body>
</html>
`;
}

function navbar(user: string | undefined): string {
  const right = user
    ? `<p class="navbar-text navbar-right">
      <i class="glyphicon glyphicon-user" aria-hidden="true"></i>
      <span style="padding-left: 5px;">${h(user)} ( <a href="logout">sign out</a> )</span>
    </p>`
    : `<form class="navbar-form navbar-right" method="post" action="login" name="login_form">
      <input type="text" class="form-control" name="username" placeholder="User Name">
      <input type="password" class="form-control" name="passwd" placeholder="Password">
      <button type="submit" class="btn btn-default">Sign in</button>
    </form>`;
  return `<nav class="navbar navbar-inverse navbar-static-top">
  <div class="container">
    <div class="navbar-header"><a class="navbar-brand" href="#">BookInfo Sample</a></div>
    ${right}
  </div>
</nav>`;
}

function stars(rating: NonNullable<Review['rating']>): string {
  if (typeof rating.stars === 'number') {
    const full = Math.max(0, Math.min(5, Math.round(rating.stars)));
    const spans = [
      ...Array.from({ length: full }, () => '<span class="glyphicon glyphicon-star"></span>'),
      ...Array.from({ length: 5 - full }, () => '<span class="glyphicon glyphicon-star-empty"></span>'),
    ];
    return `<font color="${h(rating.color ?? 'black')}">
          ${spans.join('\n          ')}
        </font>`;
  }
  if (rating.error) return `<p><i>${h(rating.error)}</i></p>`;
  return '';
}

function detailsColumn(m: PageModel): string {
  if (m.detailsStatus === 200) {
    const d = m.details;
    const row = (label: string, key: string) => `<dt>${label}:</dt>${h(String(d[key] ?? ''))}`;
    return `<h4 class="text-center text-primary">Book Details</h4>
      <dl>
        ${row('Type', 'type')}
        ${row('Pages', 'pages')}
        ${row('Publisher', 'publisher')}
        ${row('Language', 'language')}
        ${row('ISBN-10', 'ISBN-10')}
        ${row('ISBN-13', 'ISBN-13')}
      </dl>`;
  }
  const err = typeof m.details.error === 'string' ? `\n      <p>${h(m.details.error)}</p>` : '';
  return `<h4 class="text-center text-primary">Error fetching product details!</h4>${err}`;
}

function reviewsColumn(m: PageModel): string {
  if (m.reviewsStatus === 200) {
    const quotes = (m.reviews.reviews ?? []).map(
      (r) => `<blockquote>
        <p>${h(r.text)}</p>
        <small>${h(r.reviewer)}</small>
        ${r.rating ? stars(r.rating) : ''}
      </blockquote>`,
    );
    const cluster = m.reviews.clustername && m.reviews.clustername !== 'null' ? ` on cluster <u>${h(m.reviews.clustername)}</u>` : '';
    return `<h4 class="text-center text-primary">Book Reviews</h4>
      ${quotes.join('\n      ')}
      <dl>
        <dt>Reviews served by:</dt>
        <u>${h(m.reviews.podname ?? '')}</u>${cluster}
      </dl>`;
  }
  const err = m.reviews.error ? `\n      <p>${h(m.reviews.error)}</p>` : '';
  return `<h4 class="text-center text-primary">Error fetching product reviews!</h4>${err}`;
}

export function renderProductPage(m: PageModel): string {
  return layout(
    'Simple Bookstore App',
    `${navbar(m.user)}
<div class="container-fluid">
  <div class="row">
    <div class="col-md-12">
      <h3 class="text-center text-primary">${h(m.product.title)}</h3>
      <p>Summary: ${m.product.descriptionHtml}</p>
    </div>
  </div>
  <div class="row">
    <div class="col-md-6">
      ${detailsColumn(m)}
    </div>
    <div class="col-md-6">
      ${reviewsColumn(m)}
    </div>
  </div>
</div>`,
  );
}

/** The landing page: what the app is and where to click. */
export function renderIndex(services: Record<string, string>): string {
  const rows = Object.entries(services)
    .map(([name, url]) => `<tr><td>${h(name)}</td><td>${h(url)}</td></tr>`)
    .join('\n      ');
  return layout(
    'Simple Bookstore App',
    `<div class="container">
  <h3>Hello! This is a simple bookstore application consisting of four services.</h3>
  <p>Click on one of the links below to auto generate a request to the backend as a real user or a tester.</p>
  <p><a href="productpage?u=normal">Normal user</a></p>
  <p><a href="productpage?u=test">Test user</a></p>
  <table class="table">
    <thead><tr><th>service</th><th>address</th></tr></thead>
    <tbody>
      ${rows}
    </tbody>
  </table>
</div>`,
  );
}
