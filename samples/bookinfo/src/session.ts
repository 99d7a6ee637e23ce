/**
 * productpage's signed-in user, kept in a `session` cookie signed with HMAC so a client cannot
 * claim to be someone else without logging in (the original uses Flask's signed session). The
 * default secret is fixed so that several productpage replicas accept each other's cookies.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'session';

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function encodeSession(secret: string, user: string): string {
  const payload = Buffer.from(JSON.stringify({ user }), 'utf8').toString('base64url');
  return `${payload}.${sign(secret, payload)}`;
}

/** The user named by a valid cookie, or undefined. */
export function decodeSession(secret: string, cookie: string | undefined): string | undefined {
  if (!cookie) return undefined;
  const dot = cookie.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const payload = cookie.slice(0, dot);
  const given = Buffer.from(cookie.slice(dot + 1));
  const want = Buffer.from(sign(secret, payload));
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  try {
    const { user } = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { user?: unknown };
    return typeof user === 'string' && user !== '' ? user : undefined;
  } catch {
    return undefined;
  }
}
