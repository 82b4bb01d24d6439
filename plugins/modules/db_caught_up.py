#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: db_caught_up
short_description: Prove that the destination has every write of the source
version_added: 1.0.0
description:
  - Writes a unique token through the admin connection into a replicated object on the source (a
    row of a small table, a Redis key, a MongoDB document), then waits inside the module until the
    destination returns it.
  - With ordered replication, the token arriving proves that every write made before it has arrived
    too. After the fence (M(dtsops.switchover.db_write_lock)) this replaces the fixed minute of
    C(undelayed) waiting by a proof that usually takes seconds.
  - The token object must be part of the migration task, so that the destination receives its writes.
  - The engines of the source and destination may differ (heterogeneous migrations).
  - The token is written through the admin connection also while the source is fenced; how each
    engine does that is described in its engine guide (docs/engines/).
options:
  token_object:
    description:
      - Where the token is written, on the source and (unless O(destination_token_object) is set) on
        the destination.
      - A table C(schema.table) (MySQL C(database.table); a name without a schema uses the
        connection's database or default schema) for mysql, postgresql, sqlserver and oracle; a key
        prefix for redis (the token is written to the key C(<prefix>:<token>)); a collection
        C(database.collection) for mongodb.
    type: str
    required: true
  destination_token_object:
    description:
      - The name of the token object on the destination, when the migration maps it to another name
        (for example another schema in a heterogeneous migration). Defaults to O(token_object).
    type: str
  create:
    description:
      - Create the token object on the source when it is missing (a table with the token as primary
        key and a timestamp, or a collection). Nothing is created for redis.
      - Without O(create), a token object missing on the source or on the destination is an error.
        With O(create), the destination object may appear while the module waits (a migration that
        replicates DDL creates it there).
    type: bool
    default: false
  token:
    description:
      - The token to write. Defaults to a fresh unique value, C(dtsops-<UTC time>-<random>).
    type: str
  timeout:
    description:
      - Seconds to wait for the token on the destination.
    type: float
    default: 300
  poll_interval:
    description:
      - Seconds between two reads on the destination. The interval grows up to 2 seconds (or
        O(poll_interval) if larger) while the token is missing, so RV(latency) is exact to one interval.
    type: float
    default: 0.5
extends_documentation_fragment:
  - dtsops.switchover.db.pair
  - dtsops.switchover.attributes
attributes:
  check_mode:
    support: full
    details:
      - Connects to both servers and checks the token objects, writes nothing, and returns the token
        and the statements it would run.
  diff_mode:
    support: none
notes:
  - "What the token is, per engine, and the privileges of the admin accounts, O(source.login_user) and O(destination.login_user) (details in docs/engines/):"
  - "B(mysql), B(postgresql), B(sqlserver), B(oracle): a row (token primary key, time written) in a table;
    C(INSERT) on it at the source, C(SELECT) at the destination, C(CREATE) in the schema with O(create=true).
    While the source is fenced, MariaDB needs C(READ_ONLY ADMIN) and MySQL C(CONNECTION_ADMIN) (and
    C(SYSTEM_VARIABLES_ADMIN), to lift C(super_read_only) around the write); PostgreSQL needs nothing more
    (the admin session is not read-only); SQL Server and Oracle are described in their guides."
  - "B(redis): the key C(<token_object>:<token>); C(+set) at the source, C(+exists) at the destination. Under
    the instance fence the write runs in one pipeline of C(CLIENT UNPAUSE), C(SET), C(CLIENT PAUSE), so
    C(+client|unpause) and C(+client|pause) too."
  - "B(mongodb): a document C({_id: token}) in the collection C(database.collection); C(insert) at the
    source (C(bypassWriteBlockingMode) under the instance fence), C(find) at the destination."
  - The token is never deleted by this module, so the proof stays visible on both sides. The objects
    hold one row or key per run.
seealso:
  - module: dtsops.switchover.db_write_lock
  - module: dtsops.switchover.dts_wait_undelayed
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Prove the destination caught up (token table in the migrated schema)
  dtsops.switchover.db_caught_up:
    source:
      engine: mysql
      login_host: source.db.example.com
      login_user: switchover_admin
      login_password: "{{ source_password }}"
    destination:
      engine: mysql
      login_host: rm-xxxx.mysql.rds.aliyuncs.com
      login_user: switchover_admin
      login_password: "{{ destination_password }}"
    token_object: shop.dtsops_switchover_token
    timeout: 120
  register: proof

- name: Show the measured latency
  ansible.builtin.debug:
    msg: "Token {{ proof.token }} arrived after {{ proof.latency }} s"

- name: MySQL to PostgreSQL, where DTS maps the database shop to the schema shop in database app
  dtsops.switchover.db_caught_up:
    source:
      engine: mysql
      login_host: source.db.example.com
      login_user: switchover_admin
      login_password: "{{ source_password }}"
    destination:
      engine: postgresql
      login_host: pgm-xxxx.pg.rds.aliyuncs.com
      login_db: app
      login_user: switchover_admin
      login_password: "{{ destination_password }}"
    token_object: shop.dtsops_switchover_token

- name: Redis, with the token key prefix
  dtsops.switchover.db_caught_up:
    source: {engine: redis, login_host: cache-old.example.com, login_password: "{{ old_password }}"}
    destination: {engine: redis, login_host: r-xxxx.redis.rds.aliyuncs.com, login_password: "{{ new_password }}"}
    token_object: dtsops:token
'''

RETURN = r'''
token:
  description: The token written (in check mode, that would be written).
  returned: always
  type: str
  sample: dtsops-20260301T101500Z-5f1c2a9be0d4
written:
  description: Whether the token was written.
  returned: always
  type: bool
source_object:
  description: Where the token was written on the source, as the engine describes it.
  returned: always
  type: str
  sample: shop.dtsops_switchover_token
destination_object:
  description: Where the module looked for the token on the destination.
  returned: always
  type: str
created:
  description: Whether the token object was created on the source (in check mode, would be).
  returned: always
  type: bool
write_time:
  description: When the write of the token returned (epoch seconds).
  returned: when the token was written
  type: float
  sample: 1772360100.125
seen_time:
  description: When the destination first returned the token (epoch seconds).
  returned: success, not in check mode
  type: float
  sample: 1772360101.632
latency:
  description: Seconds between the write and the first read that returned the token (at most one poll interval late).
  returned: success, not in check mode
  type: float
  sample: 1.507
polls:
  description: How many reads on the destination it took.
  returned: always
  type: int
  sample: 3
samples:
  description: Each read on the destination (C(t) seconds since the write, C(time) epoch, C(ready)).
  returned: always
  type: list
  elements: dict
statements:
  description: The statements and commands run on the source (in check mode, that would run).
  returned: always
  type: list
  elements: str
destination_statements:
  description: The statements and commands run on the destination.
  returned: always
  type: list
  elements: str
'''

import time
import uuid

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dtsops.switchover.plugins.module_utils.db import (
    connect_engine,
    db_pair_argument_spec,
    fail_engine,
)
from ansible_collections.dtsops.switchover.plugins.module_utils.engines.base import EngineError
from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import Observation, WaitTimeout, Waiter


def new_token():
    return 'dtsops-%s-%s' % (time.strftime('%Y%m%dT%H%M%SZ', time.gmtime()), uuid.uuid4().hex[:12])


def iso(epoch):
    return time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(epoch)) + ('%.3fZ' % (epoch % 1))[1:]


class TokenProbe(object):
    """Reads the token on the destination. With ``tolerate_missing``, a read error (the object is
    not there yet) counts as not seen and is kept for the timeout message."""

    def __init__(self, engine, name, token, tolerate_missing):
        self.engine = engine
        self.name = name
        self.token = token
        self.tolerate_missing = tolerate_missing
        self.last_error = None

    def __call__(self):
        try:
            seen = bool(self.engine.read_token(self.name, self.token))
            self.last_error = None
        except EngineError as exc:
            if not self.tolerate_missing:
                raise
            self.last_error = str(exc)
            seen = False
        return Observation(seen)


def main():
    argument_spec = db_pair_argument_spec()
    argument_spec.update(
        token_object=dict(type='str', required=True, no_log=False),
        destination_token_object=dict(type='str', no_log=False),
        create=dict(type='bool', default=False),
        token=dict(type='str', no_log=False),
        timeout=dict(type='float', default=300),
        poll_interval=dict(type='float', default=0.5),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    params = module.params
    if params['timeout'] < 0:
        module.fail_json(msg='timeout must be 0 or more seconds, got %s.' % params['timeout'])
    if params['poll_interval'] <= 0:
        module.fail_json(msg='poll_interval must be more than 0 seconds, got %s.' % params['poll_interval'])
    for name in ('token_object', 'destination_token_object', 'token'):
        if params[name] is not None and not params[name].strip():
            module.fail_json(msg='%s must not be empty.' % name)

    source_name = params['token_object']
    destination_name = params['destination_token_object'] or source_name
    token = params['token'] or new_token()
    result = dict(changed=False, token=token, written=False, created=False, source_object=source_name,
                  destination_object=destination_name, polls=0, samples=[])

    source = connect_engine(module, params['source'], what='source')
    destination = None
    doing = 'checking the token object'
    try:
        destination = connect_engine(module, params['destination'], what='destination')

        def fail(msg, **extra):
            extra.update(statements=list(source.statements), destination_statements=list(destination.statements))
            module.fail_json(msg=msg, **dict(result, **extra))

        try:
            result['created'] = bool(source.ensure_token_object(source_name, create=params['create']))
        except Exception as exc:
            fail_engine(module, exc, 'checking the token object %s' % source_name, source, **result)
        if not params['create']:
            try:
                destination.ensure_token_object(destination_name, create=False)
            except Exception as exc:
                fail_engine(module, exc, 'checking the token object %s' % destination_name, destination, **result)
        if module.check_mode:
            # The engine records the write without running it: the plan shows the statements.
            doing = 'preparing the token write'
            result.update(changed=True, source_object=source.write_token(source_name, token) or source_name,
                          statements=list(source.statements), destination_statements=list(destination.statements))
            module.exit_json(**result)

        doing = 'writing the token'
        where = source.write_token(source_name, token)
        written_at = time.monotonic()
        result.update(changed=True, written=True, write_time=round(time.time(), 3), source_object=where or source_name)
        result['write_time_iso'] = iso(result['write_time'])

        doing = 'reading the token on the destination'
        probe = TokenProbe(destination, destination_name, token, tolerate_missing=params['create'])
        try:
            outcome = Waiter(params['timeout'], poll_interval=params['poll_interval'],
                             max_interval=max(params['poll_interval'], 2.0)).wait(probe)
        except WaitTimeout as exc:
            reason = (' The last read failed: %s.' % probe.last_error) if probe.last_error else (
                ' The migration is not caught up, or %s is not part of the migration task.' % source_name)
            fail('The token %s, written at %s into %s on the source %s %s, did not appear in %s on the destination '
                 '%s %s within %s seconds (%d reads).%s'
                 % (token, result['write_time_iso'], source_name, params['source']['engine'], source.address,
                    destination_name, params['destination']['engine'], destination.address, _seconds(params['timeout']),
                    exc.result.polls, reason),
                 polls=exc.result.polls, samples=exc.result.samples)
        seen_at = time.monotonic()
        last = outcome.samples[-1] if outcome.samples else {}
        result.update(seen_time=last.get('time', round(time.time(), 3)), latency=round(seen_at - written_at, 3),
                      polls=outcome.polls, samples=outcome.samples)
        result['seen_time_iso'] = iso(result['seen_time'])
    except Exception as exc:
        engine = destination if doing == 'reading the token on the destination' else source
        result.update(statements=list(source.statements), destination_statements=list(destination.statements) if destination else [])
        fail_engine(module, exc, doing, engine, **result)
    finally:
        source.close()
        if destination is not None:
            destination.close()
    result.update(statements=list(source.statements), destination_statements=list(destination.statements))
    module.exit_json(**result)


def _seconds(value):
    return ('%.3f' % value).rstrip('0').rstrip('.')


if __name__ == '__main__':
    main()
