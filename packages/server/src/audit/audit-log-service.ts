import type { Caller } from '../esc/esc-service.js';
import type { IamService } from '../iam/iam-service.js';
import type { OrgRole } from '../iam/permissions.js';
import { createAuthorizer } from '../esc/authorizer.js';
import type { Kernel } from '../kernel/kernel.js';
import type { LedgerStore } from '../ledger/ledger-store.js';
import type { Storage } from '../storage/storage.js';
import { createAuditQuery, type AuditSelection, type SelectedEntry, type TextPage } from './audit-query.js';
import { toAuditLogEvent, type AuditLogEvent } from './pulumi-event.js';

export interface AuditLogServiceDeps {
  readonly storage: Storage;
  readonly kernel: Kernel;
  readonly iam: IamService;
  readonly ledger: LedgerStore;
}

/** Who reads the log, its entries and proofs: organization admins and auditors (members do not). */
export const LOG_READERS: readonly OrgRole[] = ['admin', 'auditor'];
/** Who may fetch the organization's signed checkpoint: any role. */
export const LOG_MEMBERS: readonly OrgRole[] = ['admin', 'member', 'auditor'];

export type AuditLogService = ReturnType<typeof createAuditLogService>;

/**
 * Reading the audit log (issue #6): listing and exporting it in Pulumi's shapes, and the access rule for it and
 * for the ledger's verification endpoints. Reads are not recorded (as on Pulumi Cloud and GitHub: a SIEM poller
 * would otherwise fill the log with its own reads); exports are (`audit-log-exported`, before the first byte
 * leaves); every refusal is recorded as `auth-failure-organization-role` through the kernel before it is answered.
 */
export function createAuditLogService(deps: AuditLogServiceDeps) {
  const { storage, kernel, iam, ledger } = deps;
  const query = createAuditQuery(ledger);

  const { roleRefusal } = createAuthorizer({ iam, storage });
  const refusal = (caller: Caller, org: string, allowed: readonly OrgRole[], action: string) =>
    roleRefusal(caller, org, allowed, action, { preposition: 'of' });

  /** For reads whose success is not recorded: records the refusal, if any, and refuses (AccessDenied). */
  async function requireRole(
    caller: Caller,
    org: string,
    allowed: readonly OrgRole[],
    action: string,
  ): Promise<void> {
    const refused = await refusal(caller, org, allowed, action);
    if (refused) await kernel.refuse(caller.ctx, org, refused);
  }

  return {
    requireRole,

    /** One page, newest first, in Pulumi's `AuditLogEvent` shape; `next` is the keyset of the following page. */
    async list(
      caller: Caller,
      org: string,
      selection: AuditSelection,
      pageSize: number,
    ): Promise<{ events: AuditLogEvent[]; next?: number }> {
      await requireRole(caller, org, LOG_READERS, 'read the audit log');
      const page = await query.page(org, selection, pageSize);
      return {
        events: page.entries.map((e) => toAuditLogEvent(e.data)),
        ...(page.next === undefined ? {} : { next: page.next }),
      };
    },

    /**
     * Records the export (`description` says its format and filters), then hands back the selected entries,
     * newest first, a page at a time, read lazily, as their bytes or as their text. Nothing is read before the
     * record is durable.
     */
    async export(
      caller: Caller,
      org: string,
      selection: AuditSelection,
      description: string,
    ): Promise<ExportPages> {
      await kernel.perform(caller.ctx, {
        org,
        event: 'audit-log-exported',
        authorize: () => refusal(caller, org, LOG_READERS, 'export the audit log'),
        reads: () => ({ result: undefined, description }),
      });
      return {
        bytes: () => query.pages(org, selection),
        text: () => query.textPages(org, selection),
      };
    },
  };
}

/**
 * The entries an export selected, read as their exact bytes (`jsonl`) or as text (the rendered formats: pages of
 * entries, or blocks as PostgreSQL's COPY sent them).
 */
export interface ExportPages {
  bytes(): AsyncGenerator<SelectedEntry[]>;
  text(): AsyncGenerator<TextPage>;
}
