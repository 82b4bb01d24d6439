# -*- coding: utf-8 -*-
# Copyright: dtsops.switchover contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations


class ModuleDocFragment(object):

    # Connection options of a module that talks to one database (top level).
    DOCUMENTATION = r'''
options:
  engine:
    description:
      - The database engine.
      - C(mysql) covers MySQL and MariaDB; the flavour is detected from the server.
    type: str
    required: true
    choices: [mongodb, mysql, oracle, postgresql, redis, sqlserver]
  login_host:
    description:
      - Host name or IP address of the database server.
    type: str
    default: localhost
  login_port:
    description:
      - Port of the database server.
      - Defaults to the engine's port (3306, 5432, 1433, 1521, 6379, 27017).
    type: int
  login_user:
    description:
      - The admin account used by the module. It must not be an application account that the
        module fences, nor the migration account.
      - Defaults to C(root) for mysql and C(postgres) for postgresql; the C(default) user for redis.
    type: str
  login_password:
    description:
      - Password of O(login_user).
    type: str
  login_db:
    description:
      - Database to connect to. PostgreSQL and SQL Server database, MySQL default schema,
        Oracle service name, MongoDB authentication database (default C(admin)),
        Redis logical database number (default C(0)).
    type: str
  ssl_mode:
    description:
      - TLS for the connection, with PostgreSQL's names.
      - C(prefer) uses TLS when the server offers it (PostgreSQL, MySQL); Redis, MongoDB, SQL
        Server and Oracle treat C(prefer) as C(disable), because their drivers cannot fall back.
      - C(verify-ca) checks the server certificate against O(ca_cert); C(verify-full) also checks
        the host name.
    type: str
    default: prefer
    choices: [disable, prefer, require, verify-ca, verify-full]
  ca_cert:
    description:
      - CA certificate file (PEM) used to verify the server.
    type: path
  client_cert:
    description:
      - Client certificate file (PEM), for servers that authenticate clients by certificate.
    type: path
  client_key:
    description:
      - Private key file (PEM) of O(client_cert).
    type: path
  connect_timeout:
    description:
      - Seconds to wait for the connection.
      - A server that accepts the connection but stops answering is given up on too. mysql waits
        for each answer up to O(connect_timeout) + 15 seconds (statements may wait 10 seconds for locks);
        redis up to O(connect_timeout); postgresql bounds the login with it.
    type: int
    default: 10
  instance_id:
    description:
      - The cloud instance ID of this database (ApsaraDB RDS C(rm-...), PolarDB C(pc-...), ApsaraDB for
        MongoDB C(dds-...), Tair/Redis C(r-...)), as DTS names it in the task's endpoint.
      - Only M(dtsops.switchover.switchover_unit_check) reads it; the other modules ignore it.
    type: str
requirements:
  - The driver of the engine on the host that runs the module (the controller with a local connection),
    one of PyMySQL (mysql), psycopg2 (postgresql), pymssql (sqlserver), oracledb (oracle, thin mode),
    redis (redis), pymongo (mongodb).
'''

    # The same options as suboptions of source and destination.
    PAIR = r'''
options:
  source:
    description:
      - Connection to the source database (the migration task's source).
      - Takes the same keys as the single-database modules, for example
        M(dtsops.switchover.db_write_lock).
    type: dict
    required: true
    suboptions:
      engine:
        description: The database engine.
        type: str
        required: true
        choices: [mongodb, mysql, oracle, postgresql, redis, sqlserver]
      login_host:
        description: Host name or IP address.
        type: str
        default: localhost
      login_port:
        description: Port; defaults to the engine's port.
        type: int
      login_user:
        description: Admin account used by the module.
        type: str
      login_password:
        description: Password of O(source.login_user).
        type: str
      login_db:
        description: Database, service name (Oracle), authentication database (MongoDB) or database number (Redis).
        type: str
      ssl_mode:
        description: TLS for the connection, as in the single-database modules.
        type: str
        default: prefer
        choices: [disable, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate file (PEM).
        type: path
      client_cert:
        description: Client certificate file (PEM).
        type: path
      client_key:
        description: Private key file (PEM) of O(source.client_cert).
        type: path
      connect_timeout:
        description: Seconds to wait for the connection.
        type: int
        default: 10
      instance_id:
        description: Cloud instance ID (C(rm-...), C(pc-...)); only M(dtsops.switchover.switchover_unit_check) reads it.
        type: str
  destination:
    description:
      - Connection to the destination database (the migration task's destination), with the same
        keys as O(source).
    type: dict
    required: true
    suboptions:
      engine:
        description: The database engine.
        type: str
        required: true
        choices: [mongodb, mysql, oracle, postgresql, redis, sqlserver]
      login_host:
        description: Host name or IP address.
        type: str
        default: localhost
      login_port:
        description: Port; defaults to the engine's port.
        type: int
      login_user:
        description: Admin account used by the module.
        type: str
      login_password:
        description: Password of O(destination.login_user).
        type: str
      login_db:
        description: Database, service name (Oracle), authentication database (MongoDB) or database number (Redis).
        type: str
      ssl_mode:
        description: TLS for the connection, as in the single-database modules.
        type: str
        default: prefer
        choices: [disable, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate file (PEM).
        type: path
      client_cert:
        description: Client certificate file (PEM).
        type: path
      client_key:
        description: Private key file (PEM) of O(destination.client_cert).
        type: path
      connect_timeout:
        description: Seconds to wait for the connection.
        type: int
        default: 10
      instance_id:
        description: Cloud instance ID (C(rm-...), C(pc-...)); only M(dtsops.switchover.switchover_unit_check) reads it.
        type: str
requirements:
  - The drivers of both engines on the host that runs the module (see the single-database modules).
'''

    # A database that keeps the switchover journal (switchover_journal's store).
    STORE = r'''
options:
  store:
    description:
      - Keep the journal in a database too. The connection keys are those of the database modules
        (for example M(dtsops.switchover.db_write_lock)), plus O(store.object) and O(store.create).
    type: dict
    suboptions:
      engine:
        description: The database engine.
        type: str
        required: true
        choices: [mongodb, mysql, oracle, postgresql, redis, sqlserver]
      login_host:
        description: Host name or IP address.
        type: str
        default: localhost
      login_port:
        description: Port; defaults to the engine's port.
        type: int
      login_user:
        description: Account that reads and writes the journal.
        type: str
      login_password:
        description: Password of O(store.login_user).
        type: str
      login_db:
        description: Database, service name (Oracle), authentication database (MongoDB) or database number (Redis).
        type: str
      ssl_mode:
        description: TLS for the connection, as in the single-database modules.
        type: str
        default: prefer
        choices: [disable, prefer, require, verify-ca, verify-full]
      ca_cert:
        description: CA certificate file (PEM).
        type: path
      client_cert:
        description: Client certificate file (PEM).
        type: path
      client_key:
        description: Private key file (PEM) of O(store.client_cert).
        type: path
      connect_timeout:
        description: Seconds to wait for the connection.
        type: int
        default: 10
      instance_id:
        description: Cloud instance ID (C(rm-...), C(pc-...)); only M(dtsops.switchover.switchover_unit_check) reads it.
        type: str
      object:
        description:
          - Where the journal is kept. C(schema.table) for mysql (C(database.table)), postgresql
            and oracle; C(schema.table) or C(database.schema.table) for sqlserver; a key prefix for
            redis (keys C(<prefix>:<key>)); C(database.collection) for mongodb.
          - Keep it out of the migration objects, so that the migration task neither copies it nor
            stumbles on it.
        type: str
        required: true
      create:
        description:
          - Create the table or collection when it is missing (nothing to create for redis).
            Without it a missing object fails the task.
        type: bool
        default: false
'''
