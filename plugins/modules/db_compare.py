#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: db_compare
short_description: Compare the data of the source and the destination, chunk by chunk, hashed by the servers
version_added: 1.0.0
description:
  - Compares tables, collections or key patterns between the source and the destination of a
    migration, and names the rows or keys that differ, before the applications move.
  - With O(method=checksum) each server hashes its rows in primary-key chunks (MySQL and MariaDB
    C(BIT_XOR) of C(MD5) of the columns, PostgreSQL a sum of C(md5) of the row text, SQL Server
    C(CHECKSUM_AGG) of C(HASHBYTES), Oracle sums of C(ORA_HASH)); only the digests travel. A
    chunk whose digests differ is split in halves until it is small, and its rows are then
    compared by their per-row digests, so the differing keys are named.
  - MongoDB collections are compared with the server's C(dbHash); a collection whose hash
    differs is narrowed by reading its documents in C(_id) order, in chunks.
  - Redis key patterns are scanned (C(SCAN)); a Lua script hashes each key's C(DUMP) on the
    server. A key whose digests differ is compared by content before it counts as changed
    (encodings may differ). Keys found on the destination only are extra.
  - O(method=count) compares the row (document, key) counts only.
  - Reads only; the module works the same in check mode. It is bounded by O(timeout) and,
    on a busy source, by O(max_rows_per_second).
options:
  objects:
    description:
      - What to compare. Tables as C(database.table) (MySQL), C(schema.table) (PostgreSQL in
        O(source.login_db), Oracle), C(database.schema.table) or C(schema.table) (SQL Server);
        collections as C(database.collection) (MongoDB); key patterns such as C(prefix:*) (Redis).
      - C(database.*) (C(schema.*)) takes every table or collection of it.
      - By default, the objects of the DTS task O(job_id) (its C(DbObject)), with the destination
        names the task maps them to.
    type: list
    elements: str
  job_id:
    description:
      - The migration task whose objects are compared when O(objects) is not set. Needs the DTS
        credentials (the options of the dts group).
    type: str
  method:
    description:
      - V(checksum) compares the content chunk by chunk and names the differing keys.
      - V(count) compares the number of rows, documents or keys only; it is quick.
    type: str
    choices: [checksum, count]
    default: checksum
  chunk_size:
    description:
      - Rows (documents, keys) per chunk. A chunk is one query per server.
    type: int
    default: 10000
  max_differences:
    description:
      - How many differing keys to name per object and kind. Once an object has that many, its
        remaining differing chunks are counted but not narrowed.
    type: int
    default: 10
  no_primary_key:
    description:
      - What to do with a table without a primary key, which cannot be walked in key chunks.
      - V(count) compares its row counts (and says so in RV(objects)); V(skip) leaves it out (it
        counts as consistent); V(fail) stops with a message naming the table.
    type: str
    choices: [count, skip, fail]
    default: count
  timeout:
    description:
      - Seconds the whole comparison may take. When it runs out the module fails and returns the
        objects compared so far.
    type: float
    default: 600
  max_rows_per_second:
    description:
      - Read at most this many rows (documents, keys) per second, on both servers together, to
        spare a busy source. V(0) means no limit.
    type: int
    default: 0
  fail_on_difference:
    description:
      - Fail the task when the data differ (the message lists the differences). Otherwise the
        result says RV(consistent=false) and the task succeeds.
    type: bool
    default: false
extends_documentation_fragment:
  - dtsops.switchover.db.pair
  - dtsops.switchover.dts
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.info_module
notes:
  - "Privileges: C(SELECT) on the tables (MySQL, PostgreSQL, SQL Server, Oracle); C(find) and C(dbHash)
    (role C(read)) on the MongoDB databases; C(+scan), C(+eval), C(+dump), C(+type) and the read
    commands of the types (C(+@read)) for Redis."
  - With O(method=checksum) both sides must be of the same engine (the servers' hashes are
    compared); across engines use O(method=count).
  - Values are hashed as the server renders them; the sessions set the time zone to UTC (and
    PostgreSQL its date, float and bytea output) so both sides render alike.
  - Oracle tables with LOB columns cannot be hashed by C(ORA_HASH) over a concatenation; compare them by count.
  - Redis Cluster is not walked node by node; point the module at one node or a proxy that
    passes C(SCAN) and C(EVAL).
  - MongoDB, Oracle and SQL Server are tested through their drivers against fakes that assert
    the exact commands and statements; MariaDB, PostgreSQL and Redis against real servers.
seealso:
  - module: dtsops.switchover.db_caught_up
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Compare the tables of the migration task, fail on a difference
  dtsops.switchover.db_compare:
    source: "{{ source_connection }}"
    destination: "{{ destination_connection }}"
    job_id: "{{ dts_job_id }}"
    fail_on_difference: true

- name: Two tables, gently on a busy source
  dtsops.switchover.db_compare:
    source: {engine: mysql, login_host: source.db.example.com, login_user: checker, login_password: "{{ pw }}"}
    destination: {engine: mysql, login_host: rm-xxxx.mysql.rds.aliyuncs.com, login_user: checker, login_password: "{{ pw2 }}"}
    objects: [shop.orders, shop.customers]
    max_rows_per_second: 50000
  register: compared

- name: Show what differs
  ansible.builtin.debug:
    var: compared.differences
  when: not compared.consistent

- name: Redis keys of the session store, counts only
  dtsops.switchover.db_compare:
    source: {engine: redis, login_host: cache-old.example.com, login_password: "{{ old_pw }}"}
    destination: {engine: redis, login_host: r-xxxx.redis.rds.aliyuncs.com, login_password: "{{ new_pw }}"}
    objects: ["session:*"]
    method: count
'''

RETURN = r'''
consistent:
  description: Whether every compared object holds the same data on both sides.
  returned: always
  type: bool
differences:
  description:
    - One entry per object and kind of difference. C(kind) is V(missing) (on the destination),
      V(extra) (on the destination only), V(changed), or V(count) (the counts differ and no key
      was named, as with O(method=count)).
    - C(keys) are the first O(max_differences) keys (a value, or a list for a composite key);
      C(found) how many were found; C(truncated) whether narrowing stopped early.
    - An object missing on the destination is one entry of kind V(missing) with no keys.
  returned: always
  type: list
  elements: dict
  sample:
    - {object: shop.orders, destination_object: shop.orders, kind: changed, keys: [1042], found: 1, truncated: false}
objects:
  description: Per object compared, C(method), C(source_count), C(destination_count), C(chunks),
    C(differing_chunks), C(rows_read), C(seconds), C(skipped) (why, or null) and C(note).
  returned: always
  type: list
  elements: dict
rows_compared:
  description: Rows (documents, keys) read on both servers together.
  returned: always
  type: int
seconds:
  description: Seconds the comparison took.
  returned: always
  type: float
rows_per_second:
  description: RV(rows_compared) per second.
  returned: always
  type: float
object_names:
  description: The (source, destination) object names compared, after reading the DTS task.
  returned: always
  type: list
  elements: list
statements:
  description: The statements and commands run on the source, each shape once (parameters as C(?)).
  returned: always
  type: list
  elements: str
destination_statements:
  description: The statements and commands run on the destination.
  returned: always
  type: list
  elements: str
api_calls:
  description: The DTS actions called (to read the task's objects).
  returned: always
  type: list
  elements: str
'''

import time

from ansible_collections.dtsops.switchover.plugins.module_utils import compare
from ansible_collections.dtsops.switchover.plugins.module_utils.dts import DtsError
from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DbDtsModule

COMPARE_SPEC = dict(
    objects=dict(type='list', elements='str'),
    job_id=dict(type='str'),
    method=dict(type='str', default='checksum', choices=list(compare.METHODS)),
    chunk_size=dict(type='int', default=10000),
    max_differences=dict(type='int', default=10),
    no_primary_key=dict(type='str', default='count', choices=list(compare.NO_KEY_ACTIONS)),
    timeout=dict(type='float', default=600),
    max_rows_per_second=dict(type='int', default=0),
    fail_on_difference=dict(type='bool', default=False),
)


def task_objects(module, engine):
    """The (source, destination) names of the task's DbObject."""
    client = module.client()
    try:
        job = client.describe_job(module.params['job_id'])
    except DtsError as exc:
        module.fail_from(exc, client=client)
    try:
        return compare.objects_from_db_object(job.raw.get('DbObject'), engine), list(client.api_calls)
    except compare.EngineError as exc:
        module.fail_json(msg='DTS task %s: %s' % (module.params['job_id'], exc), api_calls=list(client.api_calls))


def db_compare(module):
    params = module.params
    for name, low in (('chunk_size', 1), ('max_differences', 1), ('max_rows_per_second', 0)):
        if params[name] < low:
            module.fail_json(msg='%s must be %d or more, got %s.' % (name, low, params[name]))
    # Not the wait check of the module base: here timeout is a budget, and 0 leaves none.
    if params['timeout'] <= 0:
        module.fail_json(msg='timeout must be more than 0 seconds, got %s.' % params['timeout'])
    engine_name = params['source']['engine']
    if params['method'] == 'checksum' and params['destination']['engine'] != engine_name:
        module.fail_json(msg='method checksum compares the servers\' own hashes, so both sides must be of one engine (source %s, '
                             'destination %s): use method count across engines.' % (engine_name, params['destination']['engine']))
    result = dict(changed=False, api_calls=[])
    if not params['objects'] and not params['job_id']:
        module.fail_json(msg='Name what to compare: objects, or job_id (the DTS task whose objects are compared).')
    if params['objects']:
        if not all(name and name.strip() for name in params['objects']):
            module.fail_json(msg='objects must not contain an empty name.')
        pairs = [(name.strip(), name.strip()) for name in params['objects']]
    else:
        pairs, result['api_calls'] = task_objects(module, engine_name)
    result['object_names'] = [list(pair) for pair in pairs]

    budget = compare.Budget(params['timeout'], params['max_rows_per_second'])
    source = module.connect_engine(params['source'], what='source')
    destination = None
    started = time.monotonic()
    try:
        destination = module.connect_engine(params['destination'], what='destination')
        worker = compare.comparer(engine_name, source, destination, method=params['method'], chunk_size=params['chunk_size'],
                                  max_differences=params['max_differences'], no_primary_key=params['no_primary_key'], budget=budget)
        results = compare.run(pairs, worker, budget)
    except compare.CompareTimeout as exc:
        result.update(compare.summary(exc.results), consistent=False, seconds=round(time.monotonic() - started, 3),
                      statements=list(source.statements), destination_statements=list(destination.statements))
        module.fail_json(msg='%s: compared %d object(s) (%s); raise timeout or compare fewer objects.'
                         % (exc, len(exc.results), ', '.join(item.name for item in exc.results) or 'none'), **result)
    except Exception as exc:
        result.update(statements=list(source.statements), destination_statements=list(destination.statements) if destination else [])
        module.fail_from(exc, doing='comparing the data', **result)
    finally:
        source.close()
        if destination is not None:
            destination.close()
    seconds = time.monotonic() - started
    result.update(compare.summary(results))
    result.update(seconds=round(seconds, 3), rows_per_second=round(result['rows_compared'] / seconds, 1) if seconds > 0 else 0.0,
                  statements=list(source.statements), destination_statements=list(destination.statements))
    if params['fail_on_difference'] and not result['consistent']:
        module.fail_json(msg='The data differ: %s.' % compare.describe_differences(result['differences']), **result)
    return result


def main():
    DbDtsModule(argument_spec=COMPARE_SPEC, wait_options=False, required_one_of=[('objects', 'job_id')]).run(db_compare)


if __name__ == '__main__':
    main()
