import { randomBytes } from 'node:crypto';
import { AUDIT_KEY_PREFIX, type AuditChange, type AuditItem } from './items.js';

/**
 * Changes kept in one audit item: each is ~150 bytes, so 1,000 stay well under DynamoDB's
 * 400 KB item limit; the rest are counted in `omitted` (the command's own output lists all).
 */
export const MAX_AUDIT_CHANGES = 1_000;

/** An audit item for an operator action; keys sort by time (`_audit#<ISO>#<random>`). */
export function auditItem(
  fields: Omit<AuditItem, 'leaseKey' | 'itemType' | 'omitted' | 'changes'> & {
    changes: readonly AuditChange[];
  },
): AuditItem {
  const kept = fields.changes.slice(0, MAX_AUDIT_CHANGES);
  const omitted = fields.changes.length - kept.length;
  return {
    ...fields,
    leaseKey: `${AUDIT_KEY_PREFIX}${fields.at}#${randomBytes(4).toString('hex')}`,
    itemType: 'audit',
    changes: kept,
    ...(omitted > 0 ? { omitted } : {}),
  };
}
