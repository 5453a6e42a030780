/**
 * docker-compose.yml, checked without a Docker engine: every image pinned, ports on 127.0.0.1,
 * state in named volumes where each image can write, secrets only from the environment, and the
 * one-shot services registering every search attribute the workflows set and creating the bucket.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
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
const compose = YAML.parse(text) as Compose;
const services = compose.services;

test('has the services of a single-host deployment', () => {
  expect(Object.keys(services).sort()).toEqual(['minio', 'minio-bucket', 'postgresql', 'temporal', 'temporal-search-attributes', 'temporal-ui']);
});

test.each(Object.entries(services))('%s: image pinned to a version (no :latest, no bare name)', (_name, service) => {
  const match = /^[a-z0-9./-]+:([A-Za-z0-9._-]+)$/.exec(service.image);
  expect(match).not.toBeNull();
  const tag = match![1];
  expect(tag).not.toMatch(/^(latest|stable|main|edge)$/);
  expect(tag).toMatch(/\d/);
});

test('images: Temporal server with PostgreSQL, admin-tools of the same server version, UI, MinIO', () => {
  const version = (name: string) => services[name].image.split(':')[1];
  expect(services.temporal.image).toMatch(/^temporalio\/auto-setup:\d+\.\d+\.\d+$/);
  expect(services['temporal-search-attributes'].image).toMatch(/^temporalio\/admin-tools:/);
  expect(version('temporal-search-attributes').startsWith(`${version('temporal')}-`)).toBe(true);
  expect(services['temporal-ui'].image).toMatch(/^temporalio\/ui:\d+\.\d+\.\d+$/);
  expect(services.postgresql.image).toMatch(/^postgres:\d+\.\d+$/);
  expect(services.minio.image).toMatch(/^minio\/minio:RELEASE\./);
  expect(services['minio-bucket'].image).toMatch(/^minio\/mc:RELEASE\./);
});

test('ports: only on 127.0.0.1; Temporal 7233, Web UI 8233, MinIO 9000 (S3) and 9001 (console); PostgreSQL not published', () => {
  const published = Object.fromEntries(Object.entries(services).map(([name, s]) => [name, s.ports ?? []]));
  expect(published).toEqual({
    postgresql: [],
    temporal: ['127.0.0.1:7233:7233'],
    'temporal-search-attributes': [],
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
  // Temporal keeps its state in PostgreSQL: no volume for a non-root user to fail to write.
  expect(services.temporal.volumes).toBeUndefined();
});

test('environment: the names each image reads; passwords only from the environment, required', () => {
  expect(Object.keys(services.postgresql.environment!).sort()).toEqual(['POSTGRES_PASSWORD', 'POSTGRES_USER']);
  expect(services.temporal.environment).toMatchObject({ DB: 'postgres12', DB_PORT: '5432', POSTGRES_SEEDS: 'postgresql', POSTGRES_USER: 'temporal' });
  expect(services.temporal.environment!.POSTGRES_PWD).toBe(services.postgresql.environment!.POSTGRES_PASSWORD);
  expect(services['temporal-ui'].environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233' });
  expect(services['temporal-search-attributes'].environment).toMatchObject({ TEMPORAL_ADDRESS: 'temporal:7233' });
  expect(Object.keys(services.minio.environment!).sort()).toEqual(['MINIO_ROOT_PASSWORD', 'MINIO_ROOT_USER']);
  for (const [name, service] of Object.entries(services)) {
    for (const [key, value] of Object.entries(service.environment ?? {})) {
      if (/PASSWORD|PWD|ROOT_USER/.test(key)) expect(`${name}.${key}=${value}`).toMatch(/=\$\{[A-Z_]+:\?[^}]+\}$/);
    }
  }
});

test('start order: Temporal after PostgreSQL is healthy; one-shots and UI after their server; one-shots not restarted', () => {
  expect(services.temporal.depends_on).toEqual({ postgresql: { condition: 'service_healthy' } });
  expect(services['temporal-search-attributes'].depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services['temporal-ui'].depends_on).toEqual({ temporal: { condition: 'service_healthy' } });
  expect(services['minio-bucket'].depends_on).toEqual({ minio: { condition: 'service_healthy' } });
  expect(services['temporal-search-attributes'].restart).toBe('no');
  expect(services['minio-bucket'].restart).toBe('no');
});

test('the one-shot registers every search attribute the workflows set, with its type', () => {
  const script = String(services['temporal-search-attributes'].command);
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
