// Malformed manifests, indexes, configs and runtime configs are refused with
// the right code and a JSON pointer to the offending value.
import test from 'ava';
import {
  DockerMediaType, OciMediaType, checkManifestConfig, digestOf, generateSpec, parseDistributionErrorBody, parseImageConfig,
  parseImageJson, parseIndex, parseManifest, parseOciLayout, parseRuntimeSpec, validateDescriptor,
  validateImageManifest, withArgs,
} from '@berth/oci-spec';

const d = (s: string) => digestOf(s);
const desc = (mediaType: string, s = 'x') => ({ mediaType, digest: d(s), size: s.length });
const manifest = () => ({
  schemaVersion: 2,
  mediaType: OciMediaType.ImageManifest,
  config: desc(OciMediaType.ImageConfig, '{}'),
  layers: [desc(OciMediaType.LayerGzip, 'layer0'), desc(OciMediaType.LayerGzip, 'layer1')],
});
const index = () => ({
  schemaVersion: 2,
  mediaType: OciMediaType.ImageIndex,
  manifests: [{ ...desc(OciMediaType.ImageManifest, 'm'), platform: { os: 'linux', architecture: 'amd64' } }],
});
const dockerManifest = () => ({
  schemaVersion: 2,
  mediaType: DockerMediaType.Manifest,
  config: desc(DockerMediaType.ImageConfig, '{}'),
  layers: [desc(DockerMediaType.LayerGzip, 'l')],
});
const dockerList = () => ({
  schemaVersion: 2,
  mediaType: DockerMediaType.ManifestList,
  manifests: [{ ...desc(DockerMediaType.Manifest, 'm'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }],
});
const config = () => ({
  created: '2024-01-02T03:04:05.123456789Z',
  architecture: 'amd64',
  os: 'linux',
  config: { Env: ['PATH=/bin'], Cmd: ['sh'], Entrypoint: null, Labels: null },
  rootfs: { type: 'layers', diff_ids: [d('a'), d('b')] },
  history: [{ created: '2024-01-02T03:04:05Z', created_by: 'umoci', empty_layer: false }],
});

type Mut<T> = (x: T) => unknown;
const edit = <T>(make: () => T, f: Mut<T>): string => {
  const x = make();
  f(x);
  return JSON.stringify(x);
};

interface Case { name: string; run: () => unknown; code: string; path?: string }
const j = (x: unknown) => JSON.stringify(x);

const cases: Case[] = [
  // manifests
  { name: 'manifest: not JSON', run: () => parseManifest('{"schemaVersion": 2,'), code: 'ERR_OCI_INVALID_JSON' },
  { name: 'manifest: invalid UTF-8', run: () => parseManifest(new Uint8Array([0x7b, 0xff, 0x7d])), code: 'ERR_OCI_INVALID_JSON' },
  { name: 'manifest: an array', run: () => parseManifest('[]'), code: 'ERR_OCI_INVALID_MANIFEST', path: '' },
  { name: 'manifest: schemaVersion 3', run: () => parseManifest(edit(manifest, (m) => { (m as { schemaVersion: number }).schemaVersion = 3; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/schemaVersion' },
  { name: 'manifest: missing config', run: () => parseManifest(edit(manifest, (m) => { delete (m as Partial<ReturnType<typeof manifest>>).config; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/config' },
  { name: 'manifest: layers not an array', run: () => parseManifest(edit(manifest, (m) => { (m as { layers: unknown }).layers = {}; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers' },
  { name: 'manifest: truncated layer digest', run: () => parseManifest(edit(manifest, (m) => { m.layers[0]!.digest = m.layers[0]!.digest.slice(0, 70) as never; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers/0/digest' },
  { name: 'manifest: uppercase digest', run: () => parseManifest(edit(manifest, (m) => { m.layers[1]!.digest = m.layers[1]!.digest.toUpperCase() as never; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers/1/digest' },
  { name: 'manifest: md5 digest', run: () => parseManifest(edit(manifest, (m) => { m.config.digest = `md5:${'a'.repeat(32)}` as never; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/config/digest' },
  { name: 'manifest: negative size', run: () => parseManifest(edit(manifest, (m) => { m.layers[0]!.size = -1; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers/0/size' },
  { name: 'manifest: fractional size', run: () => parseManifest(edit(manifest, (m) => { m.config.size = 1.5; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/config/size' },
  { name: 'manifest: size as string', run: () => parseManifest(edit(manifest, (m) => { (m.config as { size: unknown }).size = '2'; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/config/size' },
  { name: 'manifest: bad layer media type', run: () => parseManifest(edit(manifest, (m) => { m.layers[1]!.mediaType = 'not a media type'; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers/1/mediaType' },
  { name: 'manifest: annotation value not a string', run: () => parseManifest(edit(manifest, (m) => { (m as Record<string, unknown>).annotations = { a: 1 }; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/annotations/a' },
  { name: 'manifest: data not base64', run: () => parseManifest(edit(manifest, (m) => { (m.config as Record<string, unknown>).data = 'not base64!'; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/config/data' },
  { name: 'manifest: bad subject', run: () => parseManifest(edit(manifest, (m) => { (m as Record<string, unknown>).subject = { mediaType: OciMediaType.ImageManifest }; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/subject/size' },
  { name: 'manifest: Docker manifest without layers', run: () => parseManifest(edit(dockerManifest, (m) => { delete (m as Partial<ReturnType<typeof dockerManifest>>).layers; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/layers' },
  { name: 'manifest: body says index, served as manifest', run: () => parseManifest(j(index()), OciMediaType.ImageManifest), code: 'ERR_OCI_MEDIA_TYPE_MISMATCH' },
  { name: 'manifest: OCI body served as Docker', run: () => parseManifest(j(manifest()), DockerMediaType.Manifest), code: 'ERR_OCI_MEDIA_TYPE_MISMATCH' },
  { name: 'manifest: schema 1', run: () => parseManifest(j({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] })), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'manifest: index passed as manifest', run: () => parseManifest(j(index())), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'manifest: empty config without artifactType', run: () => parseManifest(edit(manifest, (m) => { m.config.mediaType = OciMediaType.Empty; })), code: 'ERR_OCI_INVALID_MANIFEST', path: '/artifactType' },
  // indexes
  { name: 'index: missing manifests', run: () => parseIndex(j({ schemaVersion: 2, mediaType: OciMediaType.ImageIndex })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests' },
  { name: 'index: manifests not an array', run: () => parseIndex(edit(index, (i) => { (i as { manifests: unknown }).manifests = 'x'; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests' },
  { name: 'index: entry without digest', run: () => parseIndex(edit(index, (i) => { delete (i.manifests[0] as Partial<ReturnType<typeof index>['manifests'][0]>).digest; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests/0/digest' },
  { name: 'index: platform without os', run: () => parseIndex(edit(index, (i) => { delete (i.manifests[0]!.platform as Partial<{ os: string }>).os; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests/0/platform/os' },
  { name: 'index: platform architecture a number', run: () => parseIndex(edit(index, (i) => { (i.manifests[0]!.platform as Record<string, unknown>).architecture = 64; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests/0/platform/architecture' },
  { name: 'index: wrong mediaType constant', run: () => parseIndex(edit(index, (i) => { delete (i as Record<string, unknown>).mediaType; (i as Record<string, unknown>).schemaVersion = 1; }), OciMediaType.ImageIndex), code: 'ERR_OCI_INVALID_INDEX', path: '/schemaVersion' },
  { name: 'index: Docker list entry without platform', run: () => parseIndex(edit(dockerList, (l) => { delete (l.manifests[0] as Record<string, unknown>).platform; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests/0/platform' },
  { name: 'index: Docker list with sha512 of wrong length', run: () => parseIndex(edit(dockerList, (l) => { l.manifests[0]!.digest = `sha512:${'a'.repeat(64)}` as never; })), code: 'ERR_OCI_INVALID_INDEX', path: '/manifests/0/digest' },
  { name: 'index: manifest passed as index', run: () => parseIndex(j(manifest())), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'index: list served as OCI index', run: () => parseIndex(j(dockerList()), OciMediaType.ImageIndex), code: 'ERR_OCI_MEDIA_TYPE_MISMATCH' },
  // image configs
  { name: 'config: missing rootfs', run: () => parseImageConfig(edit(config, (c) => { delete (c as Partial<ReturnType<typeof config>>).rootfs; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/rootfs' },
  { name: 'config: missing architecture', run: () => parseImageConfig(edit(config, (c) => { delete (c as Partial<ReturnType<typeof config>>).architecture; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/architecture' },
  { name: 'config: rootfs type not layers', run: () => parseImageConfig(edit(config, (c) => { (c.rootfs as { type: string }).type = 'overlay'; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/rootfs/type' },
  { name: 'config: bad diff_id', run: () => parseImageConfig(edit(config, (c) => { c.rootfs.diff_ids[1] = 'sha256:nothex' as never; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/rootfs/diff_ids/1' },
  { name: 'config: Env entry without =', run: () => parseImageConfig(edit(config, (c) => { c.config.Env = ['PATH']; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/config/Env/0' },
  { name: 'config: Cmd a string', run: () => parseImageConfig(edit(config, (c) => { (c.config as Record<string, unknown>).Cmd = 'sh -c true'; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/config/Cmd' },
  { name: 'config: created not RFC 3339', run: () => parseImageConfig(edit(config, (c) => { c.created = 'yesterday'; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/created' },
  { name: 'config: history empty_layer a string', run: () => parseImageConfig(edit(config, (c) => { (c.history[0] as Record<string, unknown>).empty_layer = 'no'; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/history/0/empty_layer' },
  { name: 'config: Labels value a number', run: () => parseImageConfig(edit(config, (c) => { (c.config as Record<string, unknown>).Labels = { a: 1 }; })), code: 'ERR_OCI_INVALID_CONFIG', path: '/config/Labels/a' },
  { name: 'config: artifact config type', run: () => parseImageConfig(j(config()), 'application/vnd.example.thing+json'), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'config: fewer diff ids than layers', run: () => checkManifestConfig(manifest(), { ...config(), rootfs: { type: 'layers', diff_ids: [d('a')] } } as never), code: 'ERR_OCI_INVALID_CONFIG', path: '/rootfs/diff_ids' },
  { name: 'config: history disagrees with layers', run: () => checkManifestConfig({ layers: [1, 2] }, config() as never), code: 'ERR_OCI_INVALID_CONFIG', path: '/history' },
  // runtime configs
  { name: 'runtime: not JSON', run: () => parseRuntimeSpec('{ociVersion: 1}'), code: 'ERR_OCI_INVALID_JSON' },
  { name: 'runtime: missing ociVersion', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { delete (s as Partial<typeof s>).ociVersion; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/ociVersion' },
  { name: 'runtime: relative cwd', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.process!.cwd = 'tmp'; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/process/cwd' },
  { name: 'runtime: negative uid', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.process!.user.uid = -1; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/process/user/uid' },
  { name: 'runtime: unknown namespace', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.namespaces![2] = { type: 'bogus' as never }; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/namespaces/2/type' },
  { name: 'runtime: mount without destination', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { delete (s.mounts![3] as Partial<{ destination: string }>).destination; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/mounts/3/destination' },
  { name: 'runtime: bad rlimit type', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.process!.rlimits = [{ type: 'nofile', soft: 1, hard: 1 }]; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/process/rlimits/0/type' },
  { name: 'runtime: bad capability', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.process!.capabilities!.bounding![0] = 'chown'; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/process/capabilities/bounding/0' },
  { name: 'runtime: device rule access', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.resources!.devices![1]!.access = 'rwx'; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/resources/devices/1/access' },
  { name: 'runtime: oomScoreAdj out of range', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.process!.oomScoreAdj = 2000; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/process/oomScoreAdj' },
  { name: 'runtime: hook with relative path', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.hooks = { poststop: [{ path: 'bin/true' }] }; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/hooks/poststop/0/path' },
  { name: 'runtime: hugepage size', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.resources!.hugepageLimits = [{ pageSize: '2M', limit: 1 }]; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/resources/hugepageLimits/0/pageSize' },
  { name: 'runtime: seccomp default action', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.seccomp = { defaultAction: 'allow' }; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/seccomp/defaultAction' },
  { name: 'runtime: uid mapping size a string', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.uidMappings = [{ containerID: 0, hostID: 1, size: '1' as never }]; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/uidMappings/0/size' },
  { name: 'runtime: rootfsPropagation', run: () => parseRuntimeSpec(edit(() => generateSpec(), (s) => { s.linux!.rootfsPropagation = 'sideways'; })), code: 'ERR_OCI_INVALID_RUNTIME_CONFIG', path: '/linux/rootfsPropagation' },
  // other documents
  { name: 'layout: wrong version', run: () => parseOciLayout('{"imageLayoutVersion":"2.0.0"}'), code: 'ERR_OCI_INVALID_LAYOUT', path: '/imageLayoutVersion' },
  { name: 'descriptor: missing size', run: () => validateDescriptor({ mediaType: OciMediaType.Layer, digest: d('x') }), code: 'ERR_OCI_INVALID_DESCRIPTOR', path: '/size' },
  { name: 'any: JSON that is not an object', run: () => parseImageJson('"hello"'), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
  { name: 'any: unknown mediaType', run: () => parseImageJson(j({ ...manifest(), mediaType: 'application/vnd.example+json' })), code: 'ERR_OCI_UNSUPPORTED_MEDIA_TYPE' },
];

for (const c of cases) {
  test(`rejects ${c.name}`, (t) => {
    const e = t.throws(c.run) as { code?: string; path?: string; kind?: string };
    t.is(e.code, c.code);
    if (c.path !== undefined) t.is(e.path, c.path);
  });
}

test('well-formed documents pass and parseImageJson dispatches on mediaType', (t) => {
  t.is(parseManifest(j(manifest())).mediaType, OciMediaType.ImageManifest);
  t.is(parseManifest(j(manifest()), 'application/vnd.oci.image.manifest.v1+json; charset=utf-8').kind, 'manifest');
  t.is(parseManifest(Buffer.from(j(dockerManifest())), DockerMediaType.Manifest).mediaType, DockerMediaType.Manifest);
  // No mediaType field: the served type decides, else the shape.
  const bare = edit(manifest, (m) => { delete (m as Record<string, unknown>).mediaType; });
  t.is(parseManifest(bare).mediaType, OciMediaType.ImageManifest);
  t.is(parseManifest(bare, 'application/json').mediaType, OciMediaType.ImageManifest);
  t.is(parseIndex(j(index())).value.manifests.length, 1);
  t.is(parseIndex(j(dockerList())).mediaType, DockerMediaType.ManifestList);
  t.is(parseImageConfig(j(config())).value.rootfs.diff_ids.length, 2);
  t.is(parseImageConfig(j(config()), DockerMediaType.ImageConfig).mediaType, DockerMediaType.ImageConfig);
  t.is(parseImageJson(j(index())).kind, 'index');
  t.is(parseImageJson(j(dockerManifest())).kind, 'manifest');
  t.is(parseImageJson(j(config()), OciMediaType.ImageConfig).kind, 'config');
  t.is(parseImageJson(j(config())).kind, 'config');
  t.is(parseRuntimeSpec(j(generateSpec(withArgs(['true'])))).process?.args?.[0], 'true');
  t.deepEqual(parseOciLayout('{"imageLayoutVersion":"1.0.0"}'), { imageLayoutVersion: '1.0.0' });
  // Unknown fields are ignored, as the image-spec requires.
  t.notThrows(() => validateImageManifest({ ...manifest(), futureField: { x: 1 } }));
  // An empty layers list is allowed (artifacts, image-spec v1.1), and so is the empty config with an artifactType.
  t.notThrows(() => validateImageManifest({ ...manifest(), layers: [] }));
  t.notThrows(() => validateImageManifest({ ...manifest(), artifactType: 'application/vnd.example.sbom+json',
    config: { mediaType: OciMediaType.Empty, digest: digestOf('{}'), size: 2, data: 'e30=' } }));
});

test('registry error bodies are read leniently', (t) => {
  t.deepEqual(parseDistributionErrorBody('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}')?.errors[0]?.code, 'MANIFEST_UNKNOWN');
  t.is(parseDistributionErrorBody('<html>502</html>'), undefined);
  t.is(parseDistributionErrorBody('{"errors":"nope"}'), undefined);
});

test('an error lists its issues with JSON pointers', (t) => {
  const e = t.throws(() => parseManifest(edit(manifest, (m) => { m.layers[1]!.digest = 'sha256:zz' as never; }))) as {
    issues?: { path: string; keyword: string }[]; details?: Record<string, unknown>; kind?: string;
  };
  t.is(e.kind, 'invalid-argument');
  t.is(e.issues?.[0]?.path, '/layers/1/digest');
  t.is(e.issues?.[0]?.keyword, 'pattern');
  t.is(e.details?.path, '/layers/1/digest');
});
