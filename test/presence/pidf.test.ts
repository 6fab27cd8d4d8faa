/** Table tests for PIDF building and parsing (RFC 3863). */
import test from 'ava';
import type { PresenceDocument } from '../../src/core/ports.ts';
import { bindingAor, OWN_TUPLE_ID, presentityUri } from '../../src/core/presence.ts';
import type { UserId } from '../../src/core/user-id.ts';
import { ownNote, ownPresenceDocument } from '../../src/presence/own-document.ts';
import { buildPidf, parsePidf } from '../../src/presence/pidf.ts';

const good: Array<{ name: string; xml: string; want: PresenceDocument }> = [
  {
    name: 'one tuple, default namespace',
    xml: `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u@d"><tuple id="presencelb"><status><basic>open</basic></status>
<note>presencelb: requesting resources of application server app-a (127.0.0.1:8081)</note></tuple></presence>`,
    want: { entity: 'sip:u@d', tuples: [{ id: 'presencelb', basic: 'open', note: 'presencelb: requesting resources of application server app-a (127.0.0.1:8081)' }] },
  },
  {
    name: 'merged by Kamailio: several tuples, a namespace repeated on a tuple, no note',
    xml: `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u@d">
  <tuple id="device"><status><basic>closed</basic></status></tuple>
  <tuple xmlns="urn:ietf:params:xml:ns:pidf" id="presencelb"><status><basic>open</basic></status><note>lb</note></tuple>
</presence>`,
    want: { entity: 'sip:u@d', tuples: [{ id: 'device', basic: 'closed', note: null }, { id: 'presencelb', basic: 'open', note: 'lb' }] },
  },
  {
    name: 'prefixed PIDF, data-model extensions, notes with xml:lang, presence-level note',
    xml: `<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"
  xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="pres:u@d">
  <p:tuple id="t1"><p:status><p:basic>open</p:basic></p:status><p:contact priority="0.8">sip:u@host</p:contact>
    <p:note xml:lang="en">In a meeting</p:note><p:note xml:lang="fr">En réunion</p:note><p:timestamp>2026-11-25T10:00:00Z</p:timestamp></p:tuple>
  <dm:person id="p1"><rpid:activities><rpid:meeting/></rpid:activities><dm:note>person note</dm:note></dm:person>
  <p:tuple id="t2"><p:status/></p:tuple>
  <p:note>document note</p:note>
</p:presence>`,
    want: {
      entity: 'pres:u@d',
      tuples: [{ id: 't1', basic: 'open', note: 'In a meeting', timestamp: Date.UTC(2026, 10, 25, 10) }, { id: 't2', basic: null, note: null }],
      persons: [{ id: 'p1', activities: [{ names: ['meeting'], other: [] }] }],
    },
  },
  {
    name: 'no tuples at all',
    xml: '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u@d"/>',
    want: { entity: 'sip:u@d', tuples: [] },
  },
  {
    name: 'entities in note are decoded, unknown basic value reads as null',
    xml: '<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u@d"><tuple id="x"><status><basic>busy</basic></status><note>a &amp; b &lt;c&gt;</note></tuple></presence>',
    want: { entity: 'sip:u@d', tuples: [{ id: 'x', basic: null, note: 'a & b <c>' }] },
  },
];

for (const c of good) {
  test(`parsePidf: ${c.name}`, (t) => {
    const r = parsePidf(c.xml);
    if (!r.ok) return t.fail(JSON.stringify(r.errors));
    t.deepEqual(r.value, c.want);
  });
}

const bad: Array<{ name: string; xml: string; path: string; message: RegExp }> = [
  { name: 'empty body', xml: '   ', path: '', message: /empty/ },
  { name: 'not XML', xml: 'hello, I am not a document', path: '', message: /not well-formed/ },
  { name: 'truncated XML', xml: '<presence entity="sip:u@d"><tuple id="a"><status>', path: '', message: /not well-formed/ },
  { name: 'another root element', xml: '<html><body>503</body></html>', path: '', message: /root element must be <presence>/ },
  { name: 'no entity', xml: '<presence xmlns="urn:ietf:params:xml:ns:pidf"><tuple id="a"/></presence>', path: 'entity', message: /entity/ },
  { name: 'tuple without id', xml: '<presence entity="sip:u@d"><tuple id="a"/><tuple><status><basic>open</basic></status></tuple></presence>', path: 'tuples[1].id', message: /no id/ },
];

for (const c of bad) {
  test(`parsePidf rejects: ${c.name}`, (t) => {
    const r = parsePidf(c.xml);
    if (r.ok) return t.fail(`parsed: ${JSON.stringify(r.value)}`);
    t.true(r.errors.every((e) => e.code === 'PIDF_INVALID'));
    const e = r.errors.find((x) => x.path === c.path);
    t.truthy(e, JSON.stringify(r.errors));
    t.regex(e!.message, c.message);
  });
}

test('buildPidf round-trips through parsePidf and escapes text and attributes', (t) => {
  const xml = buildPidf({
    entity: 'sip:u@d',
    tuples: [
      { id: 'presencelb', basic: 'open', note: 'server "a" & <b>', contact: 'sip:lb-u@d', timestamp: Date.UTC(2026, 10, 25) },
      { id: 'x"y', basic: 'closed' },
    ],
  });
  t.regex(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>/);
  t.regex(xml, /xmlns="urn:ietf:params:xml:ns:pidf"/);
  t.regex(xml, /<timestamp>2026-11-25T00:00:00.000Z<\/timestamp>/);
  t.notRegex(xml, /<b>/);
  const r = parsePidf(xml);
  if (!r.ok) return t.fail(JSON.stringify(r.errors));
  t.deepEqual(r.value, {
    entity: 'sip:u@d',
    tuples: [
      { id: 'presencelb', basic: 'open', note: 'server "a" & <b>', timestamp: Date.UTC(2026, 10, 25) },
      { id: 'x"y', basic: 'closed', note: null },
    ],
  });
});

test('buildPidf keeps the RFC 3863 element order inside a tuple', (t) => {
  const xml = buildPidf({ entity: 'sip:u@d', tuples: [{ id: 'a', basic: 'open', note: 'n', contact: 'sip:c@d', timestamp: 0 }] });
  const order = ['<status>', '<contact>', '<note>', '<timestamp>'].map((tag) => xml.indexOf(tag));
  t.true(order.every((i) => i > 0));
  t.deepEqual([...order].sort((a, b) => a - b), order);
});

test('ownPresenceDocument: one tuple with our id, open, naming the app server, contact = our binding', (t) => {
  const user = '0b7c9a7e-2d35-4f43-8d7c-3f3f0e4c2a11' as UserId;
  const xml = ownPresenceDocument(user, 'example.org', { name: 'app-a', host: '127.0.0.1', port: 8081 }, 0);
  t.regex(xml, new RegExp(`<contact>${bindingAor(user, 'example.org')}</contact>`));
  const r = parsePidf(xml);
  if (!r.ok) return t.fail(JSON.stringify(r.errors));
  t.deepEqual(r.value, {
    entity: presentityUri(user, 'example.org'),
    tuples: [{ id: OWN_TUPLE_ID, basic: 'open', note: 'presencelb: requesting resources of application server app-a (127.0.0.1:8081)', timestamp: 0 }],
  });
  t.is(ownNote(null), 'presencelb: requesting resources of an application server');
});
