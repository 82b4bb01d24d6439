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

from ansible_collections.dtsops.switchover.plugins.module_utils.catch_up import CAUGHT_UP_SPEC, caught_up
from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DbModule


def main():
    DbModule(argument_spec=CAUGHT_UP_SPEC, pair=True).run(caught_up)


if __name__ == '__main__':
    main()
