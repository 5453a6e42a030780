/**
 * docker-compose.yml, checked without a Docker engine: what the cluster test runs (the Temporal
 * server version of devkit/devtools/cluster.ts, four services, PostgreSQL, schemas by the SQL tool,
 * namespace retention and search attributes by an operator's commands), every image pinned, ports
 * on 127.0.0.1, state in named volumes where each image can write, secrets only from the environment.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { SERVICES, TEMPORAL_SERVER_VERSION } from '../../devkit/devtools/cluster';
import { SEARCH_ATTRIBUTES } from '../../src/workflows/search-attributes';

interface Service {
  image: string;
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  command?: string[] | string;
  entrypoint?: string[];
  restart?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
}

const text = readFileSync(join(__dirname, '..', '..', 'docker-compose.yml'), 'utf8');
// Merge keys (`<<: *temporal-service`) as Docker Compose reads them.
const compose = YAML.parse(text, { merge: true }) as Compose;
const services = compose.services;
const TEMPORAL = SERVICES.map((name) => `temporal-${name}`);

test('has the services of a single-host deployment: the four Temporal services as the cluster test runs them', () => {
  expect(Object.keys(services).sort()).toEqual(
    ['minio', 'minio-bucket', 'postgresql', 'temporal-schema', 'temporal-setup', 'temporal-ui', ...TEMPORAL].sort(),
  );
  for (const name of SERVICES) expect(services[`temporal-${name}`].environment?.TEMPORAL_SERVICES).toBe(name);
});

test.each(Object.entries(services))('%s: image pinned to a version (no :latest, no bare name)', (_name, service) => {
  const match = /^[a-z0-9./-]+:([A-Za-z0-9._-]+)$/.exec(service.image);
  expect(match).not.toBeNull();
  const tag = match![1];
  expect(tag).not.toMatch(/^(latest|stable|main|edge)$/);
  expect(tag).toMatch(/\d/);
});

test('images: the Temporal server version the cluster test builds, admin-tools of that version, a UI that shows user metadata, PostgreSQL 15 as tested, MinIO', () => {
  const version = TEMPORAL_SERVER_VERSION.replace(/^v/, '');
  for (const name of TEMPORAL) expect(services[name].image).toBe(`temporalio/server:${version}`);
  expect(services['temporal-schema'].image).toBe(`temporalio/admin-tools:${version}`);
  expect(services['temporal-setup'].image).toBe(`temporalio/admin-tools:${version}`);
  // A Web UI that shows the books' summaries (user metadata): 2.54, as the dev server ships it.
  expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:2\.54\.\d+$/);
  expect(services.postgresql.image).toMatch(/^postgres:15\.\d+$/);
  expect(services.minio.image).toMatch(/^minio\/minio:RELEASE\./);
  expect(services['minio-bucket'].image).toMatch(/^minio\/mc:RELEASE\./);
  expect(text).not.toContain('auto-setup'); // deprecated image
});

test('ports: only on 127.0.0.1; Temporal 7233, Web UI 8233, MinIO 9000 (S3) and 9001 (console); PostgreSQL not published', () => {
  const published = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.ports ?? []]));
  expect(published).toEqual({
    postgresql: [],
    'temporal-frontend': ['127.0.0.1:7233:7233'],
    'temporal-history': [],
    'temporal-matching': [],
    'temporal-worker': [],
    'temporal-schema': [],
    'temporal-setup': [],
    'temporal-ui': ['127.0.0.1:8233:8080'],
    minio: ['127.0.0.1:9000:9000', '127.0.0.1:9001:9001'],
    'minio-bucket': [],
  });
});

test('volumes: named volumes at the paths the images write (PostgreSQL data, MinIO data), all declared', () => {
  expect(services.postgresql.volumes).toEqual(['postgres-data:/var/lib/postgresql/data']);
  expect(services.minio.volumes).toEqual(['minio-data:/data']);
  expect(services.minio.command).toContain('/data');
  expect(Object.keys(compose.volumes).sort()).toEqual(['minio-data', 'postgres-data']);
  // Temporal keeps its state in PostgreSQL: only its dynamic config, read-only, from the repository.
  for (const name of TEMPORAL)
    expect(services[name].volumes).toEqual(['./deploy/temporal/dynamicconfig.yaml:/etc/temporal/dynamicconfig.yaml:ro']);
  expect(readFileSync(join(__dirname, '..', '..', 'deploy/temporal/dynamicconfig.yaml'), 'utf8')).toContain('limit.maxIDLength');
});

test('environment: the names each image reads; passwords only from the environment, required', () => {
  expect(Object.keys(services.postgresql.environment!).sort()).toEqual(['POSTGRES_PASSWORD', 'POSTGRES_USER']);
  for (const name of TEMPORAL) {
    expect(services[name].environment).toMatchObject({
      DB: 'postgres12',
      DB_PORT: '5432',
      POSTGRES_SEEDS: 'postgresql',
      POSTGRES_USER: 'temporal',
    });
    expect(services[name].environment!.POSTGRES_PWD).toBe(services.postgresql.environment!.POSTGRES_PASSWORD);
  }
  expect(services['temporal-schema'].environment).toMatchObject({ SQL_PLUGIN: 'postgres12', SQL_HOST: 'postgresql', SQL_USER: 'temporal' });
  expect(services['temporal-schema'].environment!.SQL_PASSWORD).toBe(services.postgresql.environment!.POSTGRES_PASSWORD);
  expect(services['temporal-ui'].environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal-frontend:7233' });
  expect(services['temporal-setup'].environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal-frontend:7233' });
  expect(Object.keys(services.minio.environment!).sort()).toEqual(['MINIO_ROOT_PASSWORD', 'MINIO_ROOT_USER']);
  for (const [name, service] of Object.entries(services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (/PASSWORD|PWD|ROOT_USER/.test(key)) expect(`${name}.${key}=${value}`).toMatch(/=\$\{[A-Z_]+:\?[^}]+\}$/);
    }
  }
});

test('start order: schemas after PostgreSQL is healthy; the services after the schemas; set-up and UI after the frontend; one-shots not restarted', () => {
  expect(services['temporal-schema'].depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  for (const name of TEMPORAL)
    expect(services[name].depends_on).toEqual({ 'temporal-schema': { condition: 'service_completed_successfully' } });
  expect(services['temporal-setup'].depends_on).toEqual({ 'temporal-frontend': { condition: 'service_healthy' } });
  expect(services['temporal-ui'].depends_on).toEqual({ 'temporal-frontend': { condition: 'service_healthy' } });
  expect(services['minio-bucket'].depends_on).toEqual({ minio: { condition: 'service_healthy' } });
  expect(services['temporal-schema'].restart).toBe('no');
  expect(services['temporal-setup'].restart).toBe('no');
  expect(services['minio-bucket'].restart).toBe('no');
});

test('the schema one-shot sets up both databases with the embedded PostgreSQL schemas', () => {
  const script = String(services['temporal-schema'].command);
  expect(script).toContain('temporal-sql-tool --db "$$db" create-database');
  expect(script).toContain('setup-schema -v 0.0');
  expect(script).toContain('update-schema --schema-name "$$schema"');
  expect(script).toContain('postgresql/v12/temporal');
  expect(script).toContain('postgresql/v12/visibility');
});

test('the set-up one-shot creates the namespace with a retention and registers every search attribute the workflows set, with its type', () => {
  const script = String(services['temporal-setup'].command);
  expect(script).toContain('temporal operator namespace create --namespace "$$TEMPORAL_NAMESPACE" --retention "$$TEMPORAL_RETENTION"');
  expect(services['temporal-setup'].environment!.TEMPORAL_RETENTION).toMatch(/^\$\{TEMPORAL_RETENTION:-\d+h\}$/);
  expect(script).toContain('temporal operator search-attribute create');
  const types = new Set(Object.values(SEARCH_ATTRIBUTES));
  expect([...types]).toEqual(['Keyword']);
  expect(script).toContain('--type Keyword');
  for (const name of Object.keys(SEARCH_ATTRIBUTES)) expect(script).toMatch(new RegExp(`\\b${name}\\b`));
});

test('the bucket one-shot creates the bucket, idempotently', () => {
  const script = String(services['minio-bucket'].command);
  expect(script).toContain('mc alias set pipeline http://minio:9000');
  expect(script).toContain('mc mb --ignore-existing');
});
