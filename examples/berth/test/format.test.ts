import test from 'ava';
import { compileFormat } from '@berth/example-berth';

const rows = [{ ID: 'abc', Name: 'web', Labels: { b: '2', a: '1' }, Ports: ['80', '443'], State: { Running: true } },
  { ID: 'defghi', Name: 'db', Labels: {}, Ports: [], State: { Running: false } }];

test('fields, nested fields, json, functions and pipes', (t) => {
  t.is(compileFormat('{{.ID}}').render(rows), 'abc\ndefghi\n');
  t.is(compileFormat('{{.ID}}:{{.State.Running}}').render(rows), 'abc:true\ndefghi:false\n');
  t.is(compileFormat('{{json .Labels}}').render(rows.slice(0, 1)), '{"b":"2","a":"1"}\n');
  t.is(compileFormat('json').render(rows.slice(1)), `${JSON.stringify(rows[1])}\n`);
  t.is(compileFormat('{{.Labels}}').render(rows.slice(0, 1)), 'map[a:1 b:2]\n');
  t.is(compileFormat('{{upper .Name}} {{.Name | upper}} {{join .Ports ","}}').render(rows.slice(0, 1)), 'WEB WEB 80,443\n');
  t.is(compileFormat('{{index .Labels "a"}}').render(rows.slice(0, 1)), '1\n');
  t.is(compileFormat('{{range .Ports}}[{{.}}]{{end}}').render(rows), '[80][443]\n\n');
  t.is(compileFormat('{{if .State.Running}}up{{else}}down{{end}}').render(rows), 'up\ndown\n');
  t.is(compileFormat('{{.ID}}\\t{{.Name}}').render(rows.slice(0, 1)), 'abc\tweb\n');
});

test('table prefix prints a header and aligns columns like docker', (t) => {
  const out = compileFormat('table {{.ID}}\t{{.Name}}').render(rows, { ID: 'CONTAINER ID' });
  t.is(out, 'CONTAINER ID   NAME\nabc            web\ndefghi         db\n');
});

test('template errors are typed', (t) => {
  t.throws(() => compileFormat('{{.ID'), { code: 'ERR_CLI_TEMPLATE' });
  t.throws(() => compileFormat('{{range .Ports}}x').render(rows), { code: 'ERR_CLI_TEMPLATE' });
  t.throws(() => compileFormat('{{.Nope}}').render(rows), { code: 'ERR_CLI_TEMPLATE' });
  t.throws(() => compileFormat('{{frob .ID}}').render(rows), { code: 'ERR_CLI_TEMPLATE' });
});
