import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { evalEnvironment, projectEnvironment, renderDotenv, renderJSON, renderShell } from '../src/index.js';

const SOURCE = `values:
  environmentVariables:
    PLAIN: hello world
    SECRET:
      fn::secret: "it's a 'secret' $HOME \`x\`"
    NUMBER: 3
    bad-name: skipped
  files:
    KUBECONFIG: |
      apiVersion: v1
  pulumiConfig:
    aws:region: us-west-2
    token:
      fn::secret: t0k3n
  other: ignored
`;

describe('projection', () => {
  it('projects environment variables, files and Pulumi config', async () => {
    const r = await evalEnvironment('e', SOURCE);
    const p = projectEnvironment(r.environment!.properties!);
    expect(p.environmentVariables).toEqual({ PLAIN: 'hello world', SECRET: '[secret]' });
    expect(p.files).toEqual({ KUBECONFIG: 'apiVersion: v1\n' });
    expect(p.pulumiConfig).toEqual({ 'aws:region': 'us-west-2', token: '[secret]' });
    expect(p.skipped).toEqual([
      { key: 'environmentVariables.NUMBER', reason: 'value is not a string' },
      { key: 'environmentVariables.bad-name', reason: 'not a valid environment variable name' },
    ]);
    const revealed = projectEnvironment(r.environment!.properties!, { redact: false });
    expect(revealed.environmentVariables.SECRET).toBe("it's a 'secret' $HOME `x`");
  });

  it('renders dotenv with Go %q quoting', () => {
    expect(renderDotenv({ B: 'two\nlines "q"', A: 'x' })).toBe('A="x"\nB="two\\nlines \\"q\\""\n');
  });

  it('renders shell exports that a POSIX shell reads back verbatim', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 30 }).filter((s) => !s.includes('\0')),
        (value) => {
          const script = renderShell({ V: value }) + 'printf %s "$V"';
          expect(execFileSync('/bin/sh', ['-c', script], { encoding: 'utf8' })).toBe(value);
        },
      ),
      { numRuns: 40 },
    );
    expect(renderShell({ A: "it's" })).toBe(`export A='it'"'"'s'\n`);
  });

  it('renders JSON, redacted by default', async () => {
    const r = await evalEnvironment('e', 'values:\n  a: 1\n  s: {fn::secret: x}\n');
    expect(JSON.parse(renderJSON(r.environment!.properties!))).toEqual({ a: 1, s: '[secret]' });
    expect(JSON.parse(renderJSON(r.environment!.properties!, { redact: false }))).toEqual({ a: 1, s: 'x' });
  });
});
