/* eslint-disable @typescript-eslint/no-unsafe-member-access, @typescript-eslint/no-unsafe-argument, @typescript-eslint/no-explicit-any --
   the manifests are untyped YAML data: walking them is what the assertions check. */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parseDocument } from 'yaml';
import {
  envName,
  loadSettings,
  runSettingsSchema,
  RUN_SETTING_KEYS,
  checkRunSettings,
} from '../apps/shardline/src/config.js';
import { ROOT } from './cli-process.js';

/**
 * deploy/ and docker-compose.yml are applied by tools this machine does not have (kubectl,
 * Docker, CloudFormation), so what can be checked here is: every file parses as YAML, the
 * manifests reference only what is provided, the workers' settings are ones `shardline run`
 * accepts with the values it accepts, and the failure table is the one the workers and the
 * IAM policy name.
 */
type Doc = Record<string, any>;

function yamlDocs(path: string): Doc[] {
  const docs = parseAllDocuments(readFileSync(join(ROOT, path), 'utf8'));
  for (const doc of docs) expect(doc.errors, `${path}: ${doc.errors.join('; ')}`).toEqual([]);
  return docs.map((doc) => doc.toJS() as Doc);
}

const K8S = 'deploy/kubernetes';
const manifests = readdirSync(join(ROOT, K8S)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = manifests.flatMap((file) => yamlDocs(`${K8S}/${file}`).map((doc) => ({ file, doc })));
const find = (kind: string, name: string) =>
  objects.find(({ doc }) => doc.kind === kind && doc.metadata?.name === name)?.doc;
const deployment = find('Deployment', 'shardline-orders')!;
const container = deployment?.spec.template.spec.containers[0] as Doc;
const envOf = (list: Array<{ name: string; value?: string }>) =>
  Object.fromEntries(list.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));

/** Checks env as `shardline run` reads it: known SHARDLINE_ names, valid values, valid together. */
function expectValidRunEnv(env: Record<string, string>, placeholders: Record<string, string> = {}): void {
  const known = new Set([...RUN_SETTING_KEYS.map((key) => envName(key)), 'SHARDLINE_CONFIG']);
  const names = Object.keys({ ...env, ...placeholders }).filter((name) => name.startsWith('SHARDLINE_'));
  expect(names.filter((name) => !known.has(name))).toEqual([]);
  const settings = loadSettings(runSettingsSchema, {}, { env: { ...env, ...placeholders }, configFile: false });
  expect(() => checkRunSettings(settings)).not.toThrow();
}

describe('deploy/kubernetes', () => {
  it('every manifest parses and names apiVersion, kind and metadata.name', () => {
    expect(objects.length).toBeGreaterThanOrEqual(4);
    for (const { file, doc } of objects) {
      expect(doc.apiVersion, file).toEqual(expect.any(String));
      expect(doc.kind, file).toEqual(expect.any(String));
      expect(doc.metadata?.name, file).toEqual(expect.any(String));
    }
  });

  it('kustomization.yaml lists every manifest, and its image is the Deployment’s', () => {
    const [kustomization] = yamlDocs(`${K8S}/kustomization.yaml`);
    expect([...(kustomization!.resources as string[])].sort()).toEqual([...manifests].sort());
    const images = kustomization!.images as Array<{ name: string }>;
    expect(images.map((i) => i.name)).toEqual([String(container.image).split(':')[0]]);
  });

  it('the Deployment references only what is provided: ConfigMap, ServiceAccount, selector labels', () => {
    const pod = deployment.spec.template.spec as Doc;
    for (const volume of pod.volumes as Doc[]) {
      if (volume.configMap) expect(find('ConfigMap', volume.configMap.name), volume.configMap.name).toBeDefined();
    }
    expect(find('ServiceAccount', pod.serviceAccountName)).toBeDefined();
    const labels = deployment.spec.template.metadata.labels as Record<string, string>;
    expect(labels).toMatchObject(deployment.spec.selector.matchLabels);
    expect(labels).toMatchObject(find('PodDisruptionBudget', 'shardline-orders')!.spec.selector.matchLabels);
  });

  it('the workers’ environment is valid `shardline run` settings; the grace period outlasts the shutdown', () => {
    const env = envOf(container.env);
    // SHARDLINE_WORKER_ID comes from the pod name (fieldRef).
    expectValidRunEnv(env, { SHARDLINE_WORKER_ID: 'shardline-orders-abc12' });
    const shutdownMs = Number(env.SHARDLINE_SHUTDOWN_TIMEOUT_MS);
    expect(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(shutdownMs);
    expect(container.ports[0].containerPort).toBe(Number(env.SHARDLINE_HEALTH_PORT));
  });

  it('the processor the ConfigMap provides is where SHARDLINE_PROCESSOR points, and loads as a processor', async () => {
    const env = envOf(container.env);
    const mount = (container.volumeMounts as Doc[]).find((m) => m.name === 'processor')!;
    const volume = (deployment.spec.template.spec.volumes as Doc[]).find((v) => v.name === 'processor')!;
    const configMap = find('ConfigMap', volume.configMap.name)!;
    const file = Object.keys(configMap.data as Record<string, string>)[0]!;
    expect(env.SHARDLINE_PROCESSOR).toBe(`${mount.mountPath}/${file}`);
    const dir = mkdtempSync(join(tmpdir(), 'shardline-configmap-'));
    try {
      writeFileSync(join(dir, file), configMap.data[file] as string);
      const mod = (await import(pathToFileURL(join(dir, file)).href)) as {
        default: { processRecords: (batch: unknown, ctx: unknown) => Promise<void> };
      };
      const logged: unknown[] = [];
      await mod.default.processRecords(
        { records: [{ eventName: 'INSERT', keys: { pk: 'a' }, sequenceNumber: '1' }] },
        { logger: { info: (o: unknown) => logged.push(o) } },
      );
      expect(logged).toEqual([{ event: 'INSERT', keys: { pk: 'a' }, sequenceNumber: '1' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the failure table is created by deploy/aws, keyed as the destination writes, and allowed by the IAM policy', () => {
    const env = envOf(container.env);
    const [template] = yamlDocs('deploy/aws/failure-table.yaml');
    const table = template!.Resources.FailureTable as Doc;
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    expect(template!.Parameters.TableName.Default).toBe(env.SHARDLINE_FAILURE_TABLE);
    expect(table.Properties.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);
    expect(table.Properties.AttributeDefinitions).toEqual([{ AttributeName: 'id', AttributeType: 'S' }]);
    const policy = JSON.parse(readFileSync(join(ROOT, 'docs/iam-policy.json'), 'utf8')) as {
      Statement: Array<{ Action: string[]; Resource: string }>;
    };
    expect(
      policy.Statement.some(
        (s) => s.Action.includes('dynamodb:PutItem') && s.Resource.endsWith(`:table/${env.SHARDLINE_FAILURE_TABLE}`),
      ),
    ).toBe(true);
  });
});

describe('docker-compose.yml', () => {
  const compose = parseDocument(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'));
  const services = (compose.toJS() as Doc).services as Record<string, Doc>;

  it('parses; depends_on names services that exist', () => {
    expect(compose.errors).toEqual([]);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) expect(services, name).toHaveProperty(dependency);
    }
  });

  it('every service on the shardline image can build it; only workers keep its health check', () => {
    for (const [name, service] of Object.entries(services)) {
      if (service.image !== 'shardline:local') continue;
      expect(service.build, name).toBe('.');
      const isWorker = service.entrypoint === undefined;
      expect(service.healthcheck?.disable === true, name).toBe(!isWorker);
    }
    expect(services.producer!.healthcheck).toEqual({ disable: true });
  });

  it('the workers’ environment is valid `shardline run` settings', () => {
    expectValidRunEnv(services.worker!.environment as Record<string, string>);
  });
});
