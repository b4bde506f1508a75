import { EVENT_CATEGORIES, EVENT_TYPES } from './events.js';
import { PROBLEMS } from './problems.js';

/** Marks the generated part of a Markdown file: everything between the two lines is rewritten by `npm run docs`. */
export function generatedBlock(name: string, body: string): string {
  return `<!-- generated:${name} (npm run docs) -->\n${body}<!-- end:${name} -->`;
}

/** Replaces the generated block `name` in `markdown`; throws if the markers are missing. */
export function replaceGeneratedBlock(markdown: string, name: string, body: string): string {
  const pattern = new RegExp(
    `<!-- generated:${name} \\(npm run docs\\) -->\\n[\\s\\S]*?<!-- end:${name} -->`,
  );
  if (!pattern.test(markdown)) throw new Error(`no generated block "${name}" in the document`);
  return markdown.replace(pattern, () => generatedBlock(name, body));
}

/** The problem-code table of docs/api.md, from the one catalog. */
export function renderProblemTable(): string {
  const rows = Object.entries(PROBLEMS).map(
    ([code, p]) => `| <a id="problem-${code}"></a>\`${code}\` | ${p.status} | ${p.title} | ${p.doc} |`,
  );
  return ['| code | status | title | meaning |', '| --- | --- | --- | --- |', ...rows, ''].join('\n');
}

/** The event catalog of docs/events.md, grouped by category, from the one registry. */
export function renderEventCatalog(): string {
  const out: string[] = [];
  for (const [category, title] of Object.entries(EVENT_CATEGORIES)) {
    const events = EVENT_TYPES.filter((e) => e.category === category);
    if (events.length === 0) continue;
    out.push(
      `### ${title}`,
      '',
      '| event | display name | flags | OCSF | description |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const e of events) {
      const flags = [
        e.requiresOrgAdmin && 'org admin',
        e.requiresStackAdmin && 'stack admin',
        e.authenticationFailure && 'auth failure',
        e.revealsSecrets && 'reveals secrets',
        e.origin === 'vigil' && 'Vigil',
      ].filter(Boolean);
      const aliases = e.aliases.length
        ? ` Also filtered as: ${e.aliases.map((a) => `"${a}"`).join(', ')}.`
        : '';
      out.push(
        `| \`${e.id}\` | ${e.displayName} | ${flags.join(', ') || '–'} | ${e.ocsf.classUid} ${e.ocsf.className} / ${e.ocsf.activityId} | ${e.description}${aliases} |`,
      );
    }
    out.push('');
  }
  return out.join('\n');
}
