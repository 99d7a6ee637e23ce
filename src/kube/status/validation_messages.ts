/**
 * Istio's analysis results as they appear on a resource (status.validationMessages, written by
 * istiod's analysis controller): one entry per message, with Istio's code and level and the
 * documentation page; the message text is not stored (Istio does not store it either).
 */
import type { Message } from '../../api/analysis/types.ts';

export interface ValidationMessage {
  documentationUrl: string;
  level: 'ERROR' | 'WARNING' | 'INFO';
  type: { code: string };
}

export function validationMessage(m: Message): ValidationMessage {
  return {
    documentationUrl: `https://istio.io/latest/docs/reference/config/analysis/${m.code.toLowerCase()}/?ref=status-controller`,
    level: m.level === 'Error' ? 'ERROR' : m.level === 'Warning' ? 'WARNING' : 'INFO',
    type: { code: m.code },
  };
}

/** Stable order (by code, then level) so an unchanged analysis writes nothing. */
export function sortValidationMessages(ms: ValidationMessage[]): ValidationMessage[] {
  const seen = new Set<string>();
  return ms
    .sort((a, b) => a.type.code.localeCompare(b.type.code) || a.level.localeCompare(b.level))
    .filter((m) => {
      const k = `${m.type.code}|${m.level}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
}
