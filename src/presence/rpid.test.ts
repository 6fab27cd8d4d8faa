/** Table tests for reading RPID (RFC 4480) and data-model (RFC 4479) elements through parsePidf. */
import test from 'ava';
import type { PresenceDocument } from '../core/ports.ts';
import { parsePidf } from './pidf.ts';
import { parseDateTime } from './rpid.ts';

const NS = 'xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid"';

const good: Array<{ name: string; xml: string; want: PresenceDocument }> = [
  {
    name: 'RPID in the person element: activities, user-input with idle-threshold and last-input (with a zone offset)',
    xml: `<presence ${NS} entity="sip:u@d">
  <tuple id="t1"><status><basic>open</basic></status><timestamp>2026-01-01T10:10:00Z</timestamp></tuple>
  <dm:person id="p1">
    <rpid:activities><rpid:note>off until Monday</rpid:note><rpid:vacation/></rpid:activities>
    <rpid:user-input idle-threshold="600" last-input="2004-10-21T13:20:00.000-05:00">idle</rpid:user-input>
    <dm:timestamp>2026-01-01T10:00:00Z</dm:timestamp>
  </dm:person>
</presence>`,
    want: {
      entity: 'sip:u@d',
      tuples: [{ id: 't1', basic: 'open', note: null, timestamp: Date.UTC(2026, 0, 1, 10, 10) }],
      persons: [{
        id: 'p1',
        activities: [{ names: ['vacation'], other: [] }],
        userInput: { value: 'idle', idleThresholdSec: 600, lastInput: Date.UTC(2004, 9, 21, 18, 20) },
        timestamp: Date.UTC(2026, 0, 1, 10),
      }],
    },
  },
  {
    name: 'RPID in a tuple’s status and directly in the tuple, with other prefixes than usual',
    xml: `<q:presence xmlns:q="urn:ietf:params:xml:ns:pidf" xmlns:x="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:u@d">
  <q:tuple id="phone"><q:status><q:basic>open</q:basic>
    <x:activities><x:on-the-phone/><x:other xml:lang="en">Dentist</x:other><x:other/></x:activities></q:status>
    <x:user-input>active</x:user-input></q:tuple>
</q:presence>`,
    want: {
      entity: 'sip:u@d',
      tuples: [{ id: 'phone', basic: 'open', note: null, activities: [{ names: ['on-the-phone', 'other'], other: ['Dentist'] }], userInput: { value: 'active' } }],
    },
  },
  {
    name: 'RPID in the default namespace, activities with from/until, unknown activity',
    xml: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:u@d">
  <tuple id="a"><status><basic>open</basic>
    <activities xmlns="urn:ietf:params:xml:ns:pidf:rpid" from="2026-07-01T00:00:00Z" until="2026-07-15T00:00:00Z"><holiday/></activities>
    <activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><unknown/></activities>
  </status></tuple>
</presence>`,
    want: {
      entity: 'sip:u@d',
      tuples: [{
        id: 'a', basic: 'open', note: null,
        activities: [{ names: ['holiday'], other: [], from: Date.UTC(2026, 6, 1), until: Date.UTC(2026, 6, 15) }, { names: ['unknown'], other: [] }],
      }],
    },
  },
  {
    name: 'as Kamailio merges two publications: every tuple and person, prefixes declared per element, a device’s user-input',
    xml: `<?xml version="1.0" encoding="UTF-8"?>
<presence ${NS} entity="sip:u@d">
<tuple id="phone"><status><basic>open</basic><rpid:activities><rpid:on-the-phone/></rpid:activities></status><rpid:user-input idle-threshold="600" last-input="2026-01-01T10:00:00Z">idle</rpid:user-input><timestamp>2026-01-01T10:10:00Z</timestamp></tuple>
<dm:person id="pA"><rpid:activities><rpid:vacation/></rpid:activities><rpid:user-input>idle</rpid:user-input></dm:person>

<p:tuple xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" id="desk"><p:status><p:basic>open</p:basic></p:status><d:deviceID>urn:x</d:deviceID></p:tuple>
<d:person xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" id="pB"><r:activities><r:away/></r:activities></d:person>
<d:device xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" id="dv"><r:user-input>active</r:user-input><d:deviceID>urn:x</d:deviceID></d:device>
</presence>`,
    want: {
      entity: 'sip:u@d',
      tuples: [
        {
          id: 'phone', basic: 'open', note: null, timestamp: Date.UTC(2026, 0, 1, 10, 10),
          activities: [{ names: ['on-the-phone'], other: [] }],
          userInput: { value: 'idle', idleThresholdSec: 600, lastInput: Date.UTC(2026, 0, 1, 10) },
        },
        { id: 'desk', basic: 'open', note: null, userInput: { value: 'active' } },
      ],
      persons: [
        { id: 'pA', activities: [{ names: ['vacation'], other: [] }], userInput: { value: 'idle' } },
        { id: 'pB', activities: [{ names: ['away'], other: [] }] },
      ],
    },
  },
  {
    name: 'malformed RPID is left out, the document stays valid',
    xml: `<presence ${NS} entity="sip:u@d">
  <tuple id="a"><status><basic>open</basic><rpid:activities>busy</rpid:activities><rpid:activities><rpid:note>only a note</rpid:note></rpid:activities></status>
    <rpid:user-input>sleepy</rpid:user-input><timestamp>yesterday</timestamp></tuple>
  <tuple id="b"><status><basic>closed</basic></status>
    <rpid:user-input idle-threshold="-5" last-input="last Tuesday">idle</rpid:user-input>
    <rpid:activities from="soon" until="2026-13-45T99:00:00Z"><rpid:sleeping/></rpid:activities></tuple>
  <tuple id="c"><status><basic>open</basic></status><rpid:user-input><rpid:idle/></rpid:user-input><rpid:user-input>active</rpid:user-input></tuple>
  <dm:person><dm:note>nothing presencelb reads</dm:note></dm:person>
  <dm:person><rpid:user-input idle-threshold="1e3">idle</rpid:user-input></dm:person>
  <dm:device id="d0"><rpid:user-input>idle</rpid:user-input></dm:device>
</presence>`,
    want: {
      entity: 'sip:u@d',
      tuples: [
        { id: 'a', basic: 'open', note: null },
        { id: 'b', basic: 'closed', note: null, activities: [{ names: ['sleeping'], other: [] }], userInput: { value: 'idle' } },
        { id: 'c', basic: 'open', note: null, userInput: { value: 'active' } },
      ],
      persons: [{ id: null, userInput: { value: 'idle' } }],
    },
  },
];

for (const c of good) {
  test(`parsePidf reads RPID: ${c.name}`, (t) => {
    const r = parsePidf(c.xml);
    if (!r.ok) return t.fail(JSON.stringify(r.errors));
    t.deepEqual(r.value, c.want);
  });
}

test('RPID does not relax what PIDF requires: a tuple without id is still an error', (t) => {
  const r = parsePidf(`<presence ${NS} entity="sip:u@d"><tuple><status><basic>open</basic><rpid:activities><rpid:away/></rpid:activities></status></tuple></presence>`);
  t.false(r.ok);
  if (!r.ok) t.is(r.errors[0]!.path, 'tuples[0].id');
});

const dates: Array<[string | null, number | null]> = [
  ['2026-01-01T10:00:00Z', Date.UTC(2026, 0, 1, 10)],
  ['2026-01-01T10:00:00.250+01:00', Date.UTC(2026, 0, 1, 9, 0, 0, 250)],
  [' 2026-01-01T10:00:00 ', Date.UTC(2026, 0, 1, 10)],
  ['2026-01-01', null],
  ['Thu, 01 Jan 2026 10:00:00 GMT', null],
  ['2026-02-30T10:00:00Z', null],
  ['2028-02-29T10:00:00Z', Date.UTC(2028, 1, 29, 10)],
  ['2026-01-01T25:00:00Z', null],
  ['2026-13-01T10:00:00Z', null],
  ['', null],
  [null, null],
];
for (const [input, want] of dates) {
  test(`parseDateTime(${JSON.stringify(input)})`, (t) => t.is(parseDateTime(input), want));
}
