#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: db_sessions_quiesced
short_description: Wait until no session writes to a database any more
version_added: 1.0.0
description:
  - Lists the client sessions of a database server, leaves out the module's own session and the
    sessions of the migration account, and waits inside the module until no session writes
    (O(wait_for=writes)) or no session is left at all (O(wait_for=sessions)).
  - A session C(writes) when it has an open write transaction or runs a write right now; C(active)
    sessions run something else; C(idle) sessions are connected and hold no transaction.
  - With O(kill=true) it ends the sessions of the application O(accounts) that are still there,
    and keeps ending new ones while it waits. Its own session and the sessions of O(exclude_users)
    and O(exclude_clients) are never ended.
  - This is step 3 of the switchover; run it after M(dtsops.switchover.db_write_lock) has fenced the
    application accounts, so no new writer can appear.
options:
  wait_for:
    description:
      - V(writes) waits until no session has an open write transaction or runs a write.
      - V(sessions) waits until no session is connected at all, besides the module's own and the
        excluded ones.
    type: str
    choices: [writes, sessions]
    default: writes
  exclude_users:
    description:
      - Users whose sessions are left out, typically the migration account (for example C(dts)).
      - Their sessions are reported with class C(excluded), are never waited for and never ended.
    type: list
    elements: str
    default: []
  exclude_clients:
    description:
      - Client addresses whose sessions are left out, as a host (C(10.0.0.5)) or host and port
        (C(10.0.0.5:51234)), for example the DTS server addresses.
    type: list
    elements: str
    default: []
  kill:
    description:
      - End the sessions of O(accounts) (all of their sessions, whatever their class), then end
        every new one that appears while the module waits.
    type: bool
    default: false
  accounts:
    description:
      - The application accounts whose sessions O(kill=true) ends. Required with O(kill=true).
      - Sessions are matched by user name; a MySQL account written C(user@host) matches the
        sessions of C(user) from any host.
      - An account must not be in O(exclude_users).
    type: list
    elements: str
    default: []
  timeout:
    description:
      - Seconds to wait for the database to become quiet. V(0) looks once.
    type: float
    default: 60
  poll_interval:
    description:
      - Seconds between two listings of the sessions.
    type: float
    default: 1
  stable_for:
    description:
      - Seconds the database must stay quiet before the module returns, to catch a writer that
        connects again.
    type: float
    default: 0
extends_documentation_fragment:
  - dtsops.switchover.db
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_db
attributes:
  check_mode:
    support: full
    details:
      - In check mode the module lists and classifies the sessions once, reports which sessions it
        would end in RV(ended_sessions) and the statements it would run, ends nothing and does not wait.
        It does not fail when sessions still write, because in a check run the fence before it was
        not applied either.
  diff_mode:
    support: none
notes:
  - "How each engine tells a writing session, and the privileges of O(login_user) to see every session and
    to end one (details in the engine guides, docs/engines/):"
  - "B(mysql): C(information_schema.PROCESSLIST) with C(INNODB_TRX); writing means rows modified in an open
    transaction or a running write statement. C(PROCESS); C(KILL CONNECTION) needs C(CONNECTION ADMIN)
    (MySQL C(CONNECTION_ADMIN)) or C(SUPER)."
  - "B(postgresql): client backends of C(pg_stat_activity); writing means a transaction id is assigned or a
    write statement runs. C(pg_read_all_stats) (or C(pg_monitor)); C(pg_terminate_backend()) needs
    C(pg_signal_backend) (only a superuser ends a superuser's session)."
  - "B(redis): C(CLIENT LIST); writing means a C(MULTI) with queued commands, or a write command within the
    last second. C(+client|list), C(+command|info), C(+acl|getuser); C(CLIENT KILL ID) needs C(+client|kill)."
  - "B(sqlserver): C(sys.dm_exec_sessions) with the transaction DMVs. C(VIEW SERVER STATE); C(KILL) needs
    C(ALTER ANY CONNECTION). B(oracle): C(v$session) with C(v$transaction). C(SELECT_CATALOG_ROLE);
    C(ALTER SYSTEM KILL SESSION) needs C(ALTER SYSTEM). B(mongodb): C(currentOp). C(inprog)
    (clusterMonitor); C(killOp)/C(killSessions) need C(killop) and C(killAnySession) (hostManager)."
  - Statements of other sessions are returned with password literals masked, cut at 1024 characters.
seealso:
  - module: dtsops.switchover.db_write_lock
  - module: dtsops.switchover.db_caught_up
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Wait until the application stopped writing (DTS keeps working)
  dtsops.switchover.db_sessions_quiesced:
    engine: mysql
    login_host: source.db.example.com
    login_user: switchover_admin
    login_password: "{{ admin_password }}"
    exclude_users: [dts]
    timeout: 120
    stable_for: 5

- name: End what the shop accounts still hold open, and wait until they are gone
  dtsops.switchover.db_sessions_quiesced:
    engine: postgresql
    login_host: source.db.example.com
    login_db: shop
    login_user: postgres
    login_password: "{{ admin_password }}"
    exclude_users: [dts_migration]
    kill: true
    accounts: [shop_app, shop_batch]
    wait_for: sessions
    timeout: 30

- name: Same settings for every database module of the play
  module_defaults:
    group/dtsops.switchover.db:
      engine: redis
      login_host: cache.example.com
      login_password: "{{ redis_password }}"
  block:
    - name: Wait for quiet
      dtsops.switchover.db_sessions_quiesced:
        exclude_clients: [100.104.0.0]
'''

RETURN = r'''
quiet:
  description: Whether the goal of O(wait_for) was reached (in check mode, whether it holds now).
  returned: always
  type: bool
  sample: true
sessions:
  description:
    - The sessions of the last listing, normalised, with their class.
    - C(class) is one of C(own), C(excluded), C(writing), C(active), C(idle).
  returned: always
  type: list
  elements: dict
  sample:
    - {id: 4711, user: shop_app, client: "10.0.0.5:51234", database: shop, state: Sleep, command: null,
       writing: false, idle: true, own: false, age: 12, class: idle}
counts:
  description: Number of sessions per class in the last listing.
  returned: always
  type: dict
  sample: {own: 1, excluded: 2, writing: 0, active: 0, idle: 3}
ended_sessions:
  description: The sessions the module ended (in check mode, would end), as they were listed.
  returned: always
  type: list
  elements: dict
statements:
  description: The statements the module ran to end sessions (in check mode, would run).
  returned: always
  type: list
  elements: str
  sample: ["KILL CONNECTION 4711"]
waited:
  description: Seconds the module waited.
  returned: always
  type: float
  sample: 2.013
polls:
  description: How many times the sessions were listed.
  returned: always
  type: int
  sample: 3
samples:
  description: The session counts per class at each poll (C(t) seconds since the start, C(time) epoch).
  returned: always
  type: list
  elements: dict
server:
  description: Engine, flavour and version of the server.
  returned: always
  type: dict
  sample: {engine: mysql, flavour: mariadb, version: 10.11.6}
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DbModule
from ansible_collections.dtsops.switchover.plugins.module_utils.sessions import SESSIONS_QUIESCED_SPEC, sessions_quiesced


def main():
    DbModule(argument_spec=SESSIONS_QUIESCED_SPEC).run(sessions_quiesced)


if __name__ == '__main__':
    main()
