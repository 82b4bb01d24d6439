#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
---
module: db_write_lock
short_description: Fence writes on a database, or lift the fence
version_added: 1.0.0
description:
  - O(state=locked) blocks writes on a database server, all or nothing, and returns a fence record
    RV(fence) that lists what it changed and the values found before. O(state=unlocked) with that
    record restores exactly those values, also from a new playbook run.
  - O(scope=instance) makes the whole server read-only. O(scope=accounts) blocks only the named
    application accounts (and ends their sessions), so the migration account keeps reading and writing.
  - Idempotent. Locking a server that is already fenced changes nothing (its record then has
    C(before) equal to C(after) for every change, so unlocking with it changes nothing either);
    unlocking twice changes nothing.
  - If one change of a fence fails, the changes already made are undone and the module fails with
    the reason and what was rolled back, and names loudly anything that could not be rolled back.
  - This is step 2 (fence) and step 8 (unfence the old source after a rollback, or the destination
    before the point of no return) of the switchover.
  - What each engine runs, and the privileges it needs, are in the table in the notes.
options:
  state:
    description:
      - V(locked) applies the fence, V(unlocked) lifts it.
    type: str
    choices: [locked, unlocked]
    default: locked
  scope:
    description:
      - V(instance) fences the whole server, V(accounts) only the O(accounts).
      - Required with O(state=locked) and with O(force=true). With O(fence), the scope of the
        record is used; a different O(scope) is an error.
    type: str
    choices: [instance, accounts]
  accounts:
    description:
      - The application accounts to fence with O(scope=accounts). Required with that scope;
        ignored (with a warning) with O(scope=instance).
      - MySQL accounts are written C(user@host), or C(user) for every host of that user. PostgreSQL
        roles, Redis ACL users, SQL Server logins, Oracle users and MongoDB users (C(user@authdb),
        or C(user) for the C(admin) database) are written by name.
    type: list
    elements: str
    default: []
  end_sessions:
    description:
      - End the sessions that the fence would not stop by itself (the sessions of the fenced
        accounts; for O(scope=instance), the sessions with open write transactions where the engine
        needs that), so no write that started before the fence can still commit.
      - The sessions of O(exclude_users) and the module's own session are never ended.
    type: bool
    default: true
  exclude_users:
    description:
      - Users whose sessions are never ended, typically the migration account (for example C(dts)).
      - They must not be in O(accounts).
    type: list
    elements: str
    default: []
  fence:
    description:
      - With O(state=unlocked), the fence record returned by the lock (RV(fence)), for example from
        a registered result or the switchover journal. The module restores the values recorded in
        it, only where the server still shows the fenced value.
    type: dict
  force:
    description:
      - With O(state=unlocked) and no O(fence) record, set the values of an unfenced server for
        O(scope) and O(accounts) whatever they were before the fence (for operators after a disaster,
        when the record is lost). Settings that were already in place before the fence are lost.
    type: bool
    default: false
  lease:
    description:
      - Redis only, O(scope=instance). Seconds the keeper process renews C(CLIENT PAUSE WRITE)
        without hearing from an unlock; after that the pause ends by itself, so a lost controller
        never leaves Redis paused. Defaults to the engine's lease (see the Redis engine guide).
    type: int
  queued_writes:
    description:
      - Redis only, O(scope=instance). What happens at the unlock to the writes that clients sent
        while the server was paused (Redis holds them back, it does not refuse them).
      - V(drop) ends those clients before the pause is lifted, so their writes never run (after a
        switchover they belong to the destination). V(execute) lets them run (an aborted switchover).
      - Recorded in the fence record; the unlock uses the value of the record, unless O(queued_writes)
        is given with O(state=unlocked).
      - A client library that retries on a lost connection (redis-py does by default) sends a dropped
        write again once the pause is lifted; only the switch of its traffic stops that.
    type: str
    choices: [drop, execute]
  databases:
    description:
      - SQL Server only, O(scope=instance). The databases to make read-only; all user databases
        when not set.
    type: list
    elements: str
extends_documentation_fragment:
  - dtsops.switchover.db
  - dtsops.switchover.attributes
  - dtsops.switchover.attributes.action_group_db
attributes:
  check_mode:
    support: full
    details:
      - Reads the current state, changes nothing, and returns the record and the statements it would run.
  diff_mode:
    support: full
    details:
      - The values the fence changes (Engine fence state) before and after; in check mode the after
        side is predicted from the record.
notes:
  - "What runs, per engine and scope, and the minimum privileges of O(login_user) (the engine guides in
    docs/engines/ have the full tables; the minimum sets were verified on MariaDB 10.11, PostgreSQL 15 and
    Redis 7, and on the drivers' APIs with fakes for SQL Server, Oracle and MongoDB):"
  - "B(mysql instance): C(SET GLOBAL read_only = ON), and C(super_read_only = ON) where the server has it
    (MySQL 5.7+); C(KILL CONNECTION) of sessions with an open write transaction. MariaDB: C(READ_ONLY ADMIN)
    (not C(SUPER)), C(PROCESS), C(CONNECTION ADMIN). MySQL 8: C(SYSTEM_VARIABLES_ADMIN), C(PROCESS),
    C(CONNECTION_ADMIN). On MariaDB, accounts with C(READ_ONLY ADMIN) (C(ALL PRIVILEGES ON *.*) includes it)
    still write: fence such accounts with O(scope=accounts)."
  - "B(mysql accounts): C(ALTER USER ... ACCOUNT LOCK) (MySQL 5.7.6+, MariaDB 10.4.2+), C(KILL CONNECTION) of
    their sessions. C(CREATE USER), C(SELECT) on C(mysql.global_priv) (MariaDB) or C(mysql.user) (MySQL),
    C(PROCESS), C(CONNECTION ADMIN)."
  - "B(postgresql instance): C(ALTER SYSTEM SET default_transaction_read_only = on), C(pg_reload_conf()),
    C(pg_terminate_backend()) of sessions that may still write; undo restores the previous
    C(postgresql.auto.conf) entry or C(ALTER SYSTEM RESET). A superuser, or on 15+ C(ALTER SYSTEM) on that
    parameter, C(SELECT) on C(pg_file_settings), C(EXECUTE) on C(pg_show_all_file_settings()) and
    C(pg_reload_conf()), plus C(pg_read_all_stats) and C(pg_signal_backend)."
  - "B(postgresql accounts): C(ALTER ROLE ... NOLOGIN), C(pg_terminate_backend()) of their sessions.
    C(CREATEROLE) (superuser for superuser roles), C(pg_read_all_stats), C(pg_signal_backend)."
  - "B(redis instance): C(CLIENT PAUSE <ms> WRITE) (Redis 6.2+) renewed by a detached keeper process until the
    unlock or the O(lease); writes of other clients wait (they are not refused). The unlock ends the
    clients whose write waits (O(queued_writes=drop)) in the same transaction as C(CLIENT UNPAUSE).
    C(+client|pause), C(+client|unpause), C(+client|list), C(+client|kill), C(+multi), C(+exec)."
  - "B(redis accounts): C(ACL SETUSER <user> -@write), C(CLIENT KILL USER <user>); undo restores the user's
    command rules (never its passwords). C(+acl|getuser), C(+acl|setuser), C(+client|list), C(+client|kill)."
  - "B(sqlserver instance): C(ALTER DATABASE [db] SET READ_ONLY WITH ROLLBACK IMMEDIATE) per database
    (O(databases), or all user databases). C(ALTER) on each database (db_owner), C(VIEW SERVER STATE).
    B(sqlserver accounts): C(ALTER LOGIN [x] DISABLE), C(KILL <spid>). C(ALTER ANY LOGIN),
    C(ALTER ANY CONNECTION), C(VIEW SERVER STATE)."
  - "B(oracle instance): C(ALTER SYSTEM ENABLE RESTRICTED SESSION) and C(ALTER SYSTEM KILL SESSION) of the
    sessions without C(RESTRICTED SESSION). C(ALTER SYSTEM), C(RESTRICTED SESSION), C(SELECT_CATALOG_ROLE).
    B(oracle accounts): C(ALTER USER x ACCOUNT LOCK), C(ALTER SYSTEM KILL SESSION). C(ALTER USER),
    C(ALTER SYSTEM), C(SELECT_CATALOG_ROLE)."
  - "B(mongodb instance): C(setUserWriteBlockMode) (MongoDB 6.0+, replica set or sharded cluster), ending
    sessions with open transactions. clusterMonitor, hostManager and a role with C(setUserWriteBlockMode)
    (backup, restore or root). B(mongodb accounts): C(revokeRolesFromUser) of the roles that write,
    C(killAllSessionsByPattern). userAdminAnyDatabase, hostManager, clusterMonitor."
seealso:
  - module: dtsops.switchover.db_sessions_quiesced
  - module: dtsops.switchover.db_caught_up
author:
  - dtsops.switchover maintainers (@dtsops)
'''

EXAMPLES = r'''
- name: Fence the application accounts on the source (DTS keeps its account)
  dtsops.switchover.db_write_lock:
    engine: mysql
    login_host: source.db.example.com
    login_user: switchover_admin
    login_password: "{{ admin_password }}"
    scope: accounts
    accounts: [shop_app@%, shop_batch]
    exclude_users: [dts]
  register: source_fence

- name: Lift exactly that fence (also from a later run, with the record from the journal)
  dtsops.switchover.db_write_lock:
    engine: mysql
    login_host: source.db.example.com
    login_user: switchover_admin
    login_password: "{{ admin_password }}"
    state: unlocked
    fence: "{{ source_fence.fence }}"

- name: Make the whole Redis read-only while the switch runs, for at most 10 minutes
  dtsops.switchover.db_write_lock:
    engine: redis
    login_host: cache.example.com
    login_password: "{{ redis_password }}"
    scope: instance
    lease: 600

- name: The record is lost - unlock the accounts whatever the fence had found
  dtsops.switchover.db_write_lock:
    engine: postgresql
    login_host: source.db.example.com
    login_user: postgres
    login_password: "{{ admin_password }}"
    state: unlocked
    force: true
    scope: accounts
    accounts: [shop_app]
'''

RETURN = r'''
fence:
  description:
    - The fence record; keep it (the switchover role writes it to its journal) to unlock later.
    - C(changes) lists what the fence changed, in order, with the value C(before) and C(after); a
      change with equal values was already in place. C(ended_sessions) are the sessions it ended.
      C(extra) holds engine data needed to undo (for example the Redis keeper).
    - With O(state=unlocked), the record that was undone.
  returned: always
  type: dict
  sample:
    engine: mysql
    scope: accounts
    server: "10.0.0.7:3306"
    flavour: mariadb
    version: 10.11.6
    changes:
      - {kind: account_lock, target: "'shop_app'@'%'", before: false, after: true}
    ended_sessions: []
    extra: {}
restored:
  description: With O(state=unlocked), the changes that were undone (in check mode, would be).
  returned: when state=unlocked
  type: list
  elements: dict
ended_sessions:
  description: The sessions the fence ended (in check mode, would end).
  returned: always
  type: list
  elements: dict
statements:
  description: The statements and commands run (in check mode, that would run), secrets masked.
  returned: always
  type: list
  elements: str
  sample: ["ALTER USER 'shop_app'@'%' ACCOUNT LOCK", "KILL CONNECTION 4711"]
'''

from ansible_collections.dtsops.switchover.plugins.module_utils.fencing import WRITE_LOCK_SPEC, write_lock
from ansible_collections.dtsops.switchover.plugins.module_utils.module_base import DbModule


def main():
    DbModule(argument_spec=WRITE_LOCK_SPEC).run(write_lock)


if __name__ == '__main__':
    main()
