"""Every documented bad input of every module and of the role's variables, with the exact message
the user sees, in one table and two ansible-playbook runs: the modules' cases as ignore_errors
tasks of one play, the role's cases as one host each in a second play. Then a -vvv run with every
secret option set, whose output must not contain any of the secrets.

``{job}``, ``{paused}``, ``{port}``, ``{dir}`` and ``{region}`` in a message stand for the test's
task ids, the MariaDB port, the working directory and the region."""

import json
import os
import uuid

import pytest

from harness import local_inventory, run_playbook

# (case, module, arguments, message). The module's DTS or database connection options are added
# by the test (see ``connection``). A message ending in '...' is a prefix: the rest is the
# server's or Python's own words, which the table does not pin.
MODULE_CASES = [
    # -- the DTS options, shared by every dts_* module ------------------------------------------
    ('dts: no credentials', 'dts_task_info', {'access_key_id': '', 'access_key_secret': '', 'job_id': '{job}'},
     'DTS needs an AccessKey ID (the access_key_id option, or ALIBABA_CLOUD_ACCESS_KEY_ID, ALICLOUD_ACCESS_KEY or ALICLOUD_ACCESS_KEY_ID); '
     'an AccessKey secret (the access_key_secret option, or ALIBABA_CLOUD_ACCESS_KEY_SECRET, ALICLOUD_SECRET_KEY or ALICLOUD_SECRET_ACCESS_KEY).'),
    ('dts: no region', 'dts_task_info', {'region': '', 'job_id': '{job}'},
     'DTS needs a region (the region option, or ALIBABA_CLOUD_REGION_ID, ALICLOUD_REGION or ALICLOUD_REGION_ID).'),
    ('dts: bad endpoint', 'dts_task_info', {'endpoint': 'http://127.0.0.1:1/path', 'job_id': '{job}'},
     "endpoint 'http://127.0.0.1:1/path' is not a host name with an optional port (for example dts.aliyuncs.com or 127.0.0.1:8080)."),
    ('dts: api_timeout 0', 'dts_task_info', {'api_timeout': 0, 'job_id': '{job}'}, 'api_timeout must be at least 1 second.'),
    ('dts: api_retry_timeout < 0', 'dts_task_info', {'api_retry_timeout': -1, 'job_id': '{job}'},
     'api_retry_timeout must be 0 (no retries) or more seconds.'),
    ('dts: wrong secret', 'dts_task_info', {'access_key_secret': 'not-the-secret', 'job_id': '{job}'},
     'DTS rejected the credentials: the signature does not match: the AccessKey secret is not the one of this AccessKey ID '
     '(SignatureDoesNotMatch). Used AccessKey ID LTAI****y01 (from the access_key_id option) and the AccessKey secret from the '
     'access_key_secret option.'),
    ('dts: bad protocol', 'dts_task_info', {'protocol': 'ftp', 'job_id': '{job}'}, 'value of protocol must be one of: http, https, got: ftp'),
    # -- dts_task_info ---------------------------------------------------------------------------
    ('dts_task_info: job_id and name', 'dts_task_info', {'job_id': 'x', 'name': 'orders'}, 'parameters are mutually exclusive: job_id|name'),
    ('dts_task_info: job_id and status', 'dts_task_info', {'job_id': 'x', 'status': 'Migrating'},
     'parameters are mutually exclusive: job_id|status'),
    ('dts_task_info: job_id and job_type', 'dts_task_info', {'job_id': 'x', 'job_type': 'SYNC'},
     'parameters are mutually exclusive: job_id|job_type'),
    ('dts_task_info: job_type', 'dts_task_info', {'job_type': 'CHECK'}, 'value of job_type must be one of: MIGRATION, SYNC, SUBSCRIBE, got: CHECK'),
    ('dts_task_info: empty job_id', 'dts_task_info', {'job_id': ''}, 'job_id must not be empty.'),
    # -- dts_wait_undelayed ----------------------------------------------------------------------
    ('dts_wait_undelayed: stable_for > timeout', 'dts_wait_undelayed', {'job_id': '{job}', 'stable_for': 60, 'timeout': 30},
     'stable_for (60 s) is longer than timeout (30 s): the wait could never succeed.'),
    ('dts_wait_undelayed: poll_interval 0', 'dts_wait_undelayed', {'job_id': '{job}', 'poll_interval': 0},
     'poll_interval must be more than 0 seconds, got 0.'),
    ('dts_wait_undelayed: max_delay < 0', 'dts_wait_undelayed', {'job_id': '{job}', 'max_delay': -1}, 'max_delay must be 0 or more seconds, got -1.'),
    ('dts_wait_undelayed: timeout < 0', 'dts_wait_undelayed', {'job_id': '{job}', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ('dts_wait_undelayed: empty job_id', 'dts_wait_undelayed', {'job_id': ' '}, 'job_id must not be empty.'),
    ('dts_wait_undelayed: unknown task', 'dts_wait_undelayed', {'job_id': 'nosuchjob00001'}, 'DTS task nosuchjob00001 not found in region {region}.'),
    ('dts_wait_undelayed: max_delay not a number', 'dts_wait_undelayed', {'job_id': '{job}', 'max_delay': 'soon'},
     "argument 'max_delay' is of type str and we were unable to convert to float: ..."),
    ('dts_wait_undelayed: paused task', 'dts_wait_undelayed', {'job_id': '{paused}', 'timeout': 5},
     'DTS task {paused} is paused (Suspending). Resume it, or set accept_paused to accept a paused task whose delay is within max_delay.'),
    # -- dts_task --------------------------------------------------------------------------------
    ('dts_task: no state', 'dts_task', {'job_id': '{job}'}, 'missing required arguments: state'),
    ('dts_task: unknown state', 'dts_task', {'job_id': '{job}', 'state': 'gone'},
     'value of state must be one of: paused, running, stopped, finished, absent, got: gone'),
    ('dts_task: empty job_id', 'dts_task', {'job_id': '', 'state': 'paused'}, 'job_id must not be empty.'),
    ('dts_task: poll_interval 0', 'dts_task', {'job_id': '{job}', 'state': 'paused', 'poll_interval': 0},
     'poll_interval must be more than 0 seconds, got 0.'),
    ('dts_task: timeout < 0', 'dts_task', {'job_id': '{job}', 'state': 'paused', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ('dts_task: unknown task', 'dts_task', {'job_id': 'nosuchjob00001', 'state': 'paused'}, 'DTS task nosuchjob00001 not found in region {region}.'),
    ('dts_task: resume a paused task without force', 'dts_task', {'job_id': '{paused}', 'state': 'running'},
     'DTS task {paused} is paused (Suspending). Resuming a paused task can corrupt data when applications already write to the '
     'destination; set force: true to resume it.'),
    ('dts_task: finish an incremental task', 'dts_task', {'job_id': '{job}', 'state': 'finished'},
     'DTS task {job} migrates incrementally: it never finishes on its own. Use state: stopped to end it.'),
    # -- dts_reverse_task ------------------------------------------------------------------------
    ('dts_reverse_task: name with reverse_api', 'dts_reverse_task', {'job_id': '{paused}', 'method': 'reverse_api', 'name': 'x'},
     'name only apply to method: configure (or auto, which may fall back to it).'),
    ('dts_reverse_task: configure options', 'dts_reverse_task',
     {'job_id': '{paused}', 'method': 'reverse_api', 'source_password': 'x', 'db_list': {'a': 1}},
     'db_list, source_password only apply to method: configure (or auto, which may fall back to it).'),
    ('dts_reverse_task: one password', 'dts_reverse_task', {'job_id': '{paused}', 'method': 'configure', 'source_password': 'x'},
     'method: configure needs destination_password: DTS does not return the database passwords of the forward task.'),
    ('dts_reverse_task: no passwords', 'dts_reverse_task', {'job_id': '{paused}', 'method': 'configure'},
     'method: configure needs source_password and destination_password: DTS does not return the database passwords of the forward task.'),
    ('dts_reverse_task: checkpoint 0', 'dts_reverse_task', {'job_id': '{paused}', 'checkpoint': 0}, 'checkpoint must be a UNIX time in seconds, got 0.'),
    ('dts_reverse_task: timeout < 0', 'dts_reverse_task', {'job_id': '{paused}', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ('dts_reverse_task: poll_interval 0', 'dts_reverse_task', {'job_id': '{paused}', 'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
    ('dts_reverse_task: unknown method', 'dts_reverse_task', {'job_id': '{paused}', 'method': 'twoway'},
     'value of method must be one of: auto, reverse_api, configure, got: twoway'),
    ('dts_reverse_task: empty job_id', 'dts_reverse_task', {'job_id': ''}, 'job_id must not be empty.'),
    ('dts_reverse_task: unknown task', 'dts_reverse_task', {'job_id': 'nosuchjob00001'}, 'DTS task nosuchjob00001 not found in region {region}.'),
    ('dts_reverse_task: paused forward task', 'dts_reverse_task', {'job_id': '{paused}', 'start': False},
     'DTS task {paused} is Suspending: CreateReverseDtsJob needs the forward task running in incremental migration (create the reverse '
     'task first, then pause the forward task, then start the writer). Use method configure to make a reverse task of a task in this state.'),
    ('dts_reverse_task: start before the pause', 'dts_reverse_task', {'job_id': '{job}', 'method': 'configure', 'source_password': 'x',
                                                                      'destination_password': 'y'},
     'DTS task {job} is Migrating: pause it (dtsops.switchover.dts_task with state paused) before starting its reverse task. Both '
     'running at once would replicate in both directions.'),
    ('dts_reverse_task: unknown reverse task', 'dts_reverse_task', {'job_id': '{paused}', 'reverse_job_id': 'nosuchjob00002'},
     'Reverse task nosuchjob00002 not found in region {region}.'),
    # -- the database options, shared by every db_* module --------------------------------------
    ('db: unknown engine', 'db_sessions_quiesced', {'engine': 'db2'},
     'value of engine must be one of: mongodb, mysql, oracle, postgresql, redis, sqlserver, got: db2'),
    ('db: unknown ssl_mode', 'db_sessions_quiesced', {'ssl_mode': 'always'},
     'value of ssl_mode must be one of: disable, prefer, require, verify-ca, verify-full, got: always'),
    ('db: verify-ca without ca_cert', 'db_sessions_quiesced', {'ssl_mode': 'verify-ca'},
     'Cannot connect to the database mysql at 127.0.0.1:{port}: ssl_mode verify-ca needs ca_cert (the CA that signed the server certificate)'),
    ('db: wrong password', 'db_sessions_quiesced', {'login_password': 'not-the-password'},
     'Cannot connect to the database mysql at 127.0.0.1:{port}: access denied: check login_user and login_password (MySQL error 1045: '
     "Access denied for user 'root'@'127.0.0.1' (using password: YES))"),
    ('db: unreachable', 'db_sessions_quiesced', {'login_port': 1, 'connect_timeout': 2},
     'Cannot connect to the database mysql at 127.0.0.1:1: server unreachable: check login_host, login_port and that the server runs '
     "(MySQL error 2003: Can't connect to MySQL server on '127.0.0.1' ([Errno 111] Connection refused))"),
    # -- db_sessions_quiesced --------------------------------------------------------------------
    ('db_sessions_quiesced: kill without accounts', 'db_sessions_quiesced', {'kill': True},
     'kill=true needs accounts: the application accounts whose sessions may be ended.'),
    ('db_sessions_quiesced: accounts without kill', 'db_sessions_quiesced', {'accounts': ['shop_app']},
     'accounts only says whose sessions kill=true ends; set kill=true or leave accounts out.'),
    ('db_sessions_quiesced: account also excluded', 'db_sessions_quiesced', {'kill': True, 'accounts': ['shop_app'], 'exclude_users': ['shop_app']},
     'accounts shop_app are also in exclude_users: excluded sessions are never ended. Remove them from one of the two lists.'),
    ('db_sessions_quiesced: timeout < 0', 'db_sessions_quiesced', {'timeout': -1}, 'timeout must be 0 or more seconds, got -1.0.'),
    ('db_sessions_quiesced: poll_interval 0', 'db_sessions_quiesced', {'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.0.'),
    ('db_sessions_quiesced: wait_for', 'db_sessions_quiesced', {'wait_for': 'silence'}, 'value of wait_for must be one of: writes, sessions, got: silence'),
    # -- db_write_lock ---------------------------------------------------------------------------
    ('db_write_lock: no scope', 'db_write_lock', {}, 'scope is required with state=locked: instance or accounts.'),
    ('db_write_lock: accounts scope without accounts', 'db_write_lock', {'scope': 'accounts'},
     'scope=accounts needs accounts: the application accounts to fence.'),
    ('db_write_lock: fence with state locked', 'db_write_lock', {'scope': 'instance', 'fence': {'engine': 'mysql'}},
     'fence and force are for state=unlocked; state=locked takes scope (and accounts).'),
    ('db_write_lock: unlocked without fence', 'db_write_lock', {'state': 'unlocked'},
     'state=unlocked needs fence (the record a lock returned) or force=true with scope (and accounts) to restore the unfenced values '
     'without a record.'),
    ('db_write_lock: fence and force', 'db_write_lock', {'state': 'unlocked', 'force': True, 'fence': {'engine': 'mysql'}},
     'fence and force=true exclude each other: with a record the module restores it, force is for when the record is lost.'),
    ('db_write_lock: fence record of another scope', 'db_write_lock', {'state': 'unlocked', 'scope': 'accounts', 'fence': '{fence}'},
     'scope is accounts but the fence record has scope instance; leave scope out to use the record.'),
    ('db_write_lock: bad fence record', 'db_write_lock', {'state': 'unlocked', 'fence': {'engine': 'mysql', 'scope': 'instance'}},
     'fence is not a fence record returned by dtsops.switchover.db_write_lock: it has no changes.'),
    ('db_write_lock: migration account fenced', 'db_write_lock', {'scope': 'accounts', 'accounts': ['shop_app'], 'exclude_users': ['shop_app']},
     'accounts shop_app are also in exclude_users: the migration account must not be fenced. Remove them from one of the two lists.'),
    ('db_write_lock: unknown account', 'db_write_lock', {'scope': 'accounts', 'accounts': ['nobody_here']},
     'Error while applying the fence on the mysql server at 127.0.0.1:{port}: account(s) not found on 127.0.0.1:{port}: nobody_here (any host); '
     'check the accounts option (SELECT User, Host FROM mysql.user lists them)'),
    ('db_write_lock: lease on mysql', 'db_write_lock', {'scope': 'instance', 'lease': 30}, 'lease applies to the redis engine only, not to mysql.'),
    ('db_write_lock: databases on mysql', 'db_write_lock', {'scope': 'instance', 'databases': ['x']},
     'databases applies to the sqlserver engine only, not to mysql.'),
    # -- db_caught_up ----------------------------------------------------------------------------
    ('db_caught_up: no token_object', 'db_caught_up', {}, 'missing required arguments: token_object'),
    ('db_caught_up: empty token_object', 'db_caught_up', {'token_object': ' '}, 'token_object must not be empty.'),
    ('db_caught_up: empty token', 'db_caught_up', {'token_object': 'shop.t', 'token': ' '}, 'token must not be empty.'),
    ('db_caught_up: timeout < 0', 'db_caught_up', {'token_object': 'shop.t', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.0.'),
    ('db_caught_up: poll_interval 0', 'db_caught_up', {'token_object': 'shop.t', 'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.0.'),
    ('db_caught_up: no destination', 'db_caught_up', {'token_object': 'shop.t', 'destination': None}, 'missing required arguments: destination'),
    ('db_caught_up: missing token table', 'db_caught_up', {'token_object': 'shop.nosuchtable'},
     'Error while checking the token object shop.nosuchtable on the mysql server at 127.0.0.1:{port}: token table shop.nosuchtable does not '
     'exist on 127.0.0.1:{port}: create it (create: true) and include it in the migration objects'),
    ('db_caught_up: token_object without schema', 'db_caught_up', {'token_object': 'table_only'},
     'Error while checking the token object table_only on the mysql server at 127.0.0.1:{port}: name the token table as database.table '
     "(or set login_db): got 'table_only'"),
    # -- switchover_journal ----------------------------------------------------------------------
    ('switchover_journal: begin without unit', 'switchover_journal', {'path': '{dir}/j.json', 'operation': 'begin'},
     'operation is begin but all of the following are missing: unit'),
    ('switchover_journal: phase without status', 'switchover_journal', {'path': '{dir}/j.json', 'operation': 'phase', 'phase': 'fence'},
     'operation is phase but all of the following are missing: status'),
    ('switchover_journal: data without data', 'switchover_journal', {'path': '{dir}/j.json', 'operation': 'data'},
     'operation is data but all of the following are missing: data'),
    ('switchover_journal: finish without outcome', 'switchover_journal', {'path': '{dir}/j.json', 'operation': 'finish'},
     'operation is finish but all of the following are missing: outcome'),
    ('switchover_journal: unknown outcome', 'switchover_journal', {'path': '{dir}/j.json', 'operation': 'finish', 'outcome': 'won'},
     'value of outcome must be one of: completed, aborted, failed, got: won'),
    ('switchover_journal: no journal yet', 'switchover_journal', {'path': '{dir}/none.json', 'operation': 'phase', 'phase': 'fence', 'status': 'done'},
     'There is no journal at {dir}/none.json: run operation=begin first.'),
    ('switchover_journal: not a journal', 'switchover_journal', {'path': '{dir}/not-a-journal.json', 'operation': 'read'},
     '{dir}/not-a-journal.json is not a switchover journal of version 1'),
    ('switchover_journal: archive an open run', 'switchover_journal', {'path': '{dir}/open.json', 'operation': 'archive'},
     'The run {run_id} in {dir}/open.json has not finished: resume it or record its outcome before archiving.'),
    # -- switchover_report -----------------------------------------------------------------------
    ('switchover_report: no journal', 'switchover_report', {'dest': '{dir}/reports'}, 'one of the following is required: journal, journal_path'),
    ('switchover_report: journal and journal_path', 'switchover_report', {'dest': '{dir}/reports', 'journal': {}, 'journal_path': '{dir}/j.json'},
     'parameters are mutually exclusive: journal|journal_path'),
    ('switchover_report: journal_path missing', 'switchover_report', {'dest': '{dir}/reports', 'journal_path': '{dir}/none.json'},
     'There is no journal at {dir}/none.json: nothing to report.'),
    ('switchover_report: not a journal', 'switchover_report', {'dest': '{dir}/reports', 'journal': {'phases': {}}},
     'The journal has no unit or run_id: pass a journal written by switchover_journal.'),
    ('switchover_report: unknown format', 'switchover_report', {'dest': '{dir}/reports', 'journal_path': '{dir}/open.json', 'formats': ['pdf']},
     'value of formats must be one or more of: json, markdown, html. Got no match for: pdf'),
]

# (case, role variables over a valid unit, message). The valid unit is ``unit`` in the test.
# The role checks the unit's variables with one assert: any of these mistakes gets the same message.
UNIT_RULES = ("{host}: check the unit's variables. switchover_job_id, switchover_source.engine and switchover_destination.engine are "
              'required; switchover_fence_scope=accounts needs switchover_app_accounts; switchover_catch_up=token needs '
              'switchover_token_object; switchover_traffic.method is none, service (with hosts and service) or tasks (with hosts, '
              'stop_tasks and start_tasks); switchover_write_budget must be positive.')
TRAFFIC = {'method': 'tasks', 'hosts': 'localhost', 'stop_tasks': '{dir}/stop.yml', 'start_tasks': '{dir}/start.yml'}
ROLE_CASES = [
    ('role: no job id', {'switchover_job_id': None}, UNIT_RULES),
    ('role: budget not a number', {'switchover_write_budget': 'soon'},
     "Validation of arguments failed: argument 'switchover_write_budget' is of type str and we were unable to convert to int: "
     '"\'soon\'" cannot be converted to an int'),
    ('role: unknown fence scope', {'switchover_fence_scope': 'table'},
     'Validation of arguments failed: value of switchover_fence_scope must be one of: auto, accounts, instance, got: table'),
    ('role: unknown catch-up', {'switchover_catch_up': 'hope'},
     'Validation of arguments failed: value of switchover_catch_up must be one of: auto, token, stable_window, got: hope'),
    ('role: no source engine', {'switchover_source': {'login_host': '127.0.0.1'}}, UNIT_RULES),
    ('role: accounts scope without accounts', {'switchover_fence_scope': 'accounts', 'switchover_app_accounts': []}, UNIT_RULES),
    ('role: token without token object', {'switchover_catch_up': 'token', 'switchover_token_object': ''}, UNIT_RULES),
    ('role: traffic tasks without task files', {'switchover_traffic': {'method': 'tasks', 'hosts': 'localhost'}}, UNIT_RULES),
    ('role: traffic service without service', {'switchover_traffic': {'method': 'service', 'hosts': 'localhost'}}, UNIT_RULES),
    ('role: unknown traffic method', {'switchover_traffic': {'method': 'email'}}, UNIT_RULES),
    ('role: budget 0', {'switchover_write_budget': 0}, UNIT_RULES),
    ('role: stable window longer than the budget', {'switchover_catch_up': 'stable_window', 'switchover_stable_window': 120,
                                                    'switchover_write_budget': 60},
     '{host}: switchover_write_budget (60 s) must be longer than switchover_stable_window (120 s): the stable window runs while writes '
     'are fenced.'),
    ('role: paused task', {'switchover_job_id': '{paused}'},
     'Aborted {host} before the point of no return: Refuse a task that cannot be switched over: The DTS task {paused} is Suspending '
     '(phase paused). Resume a paused task deliberately (dtsops.switchover.dts_task state=running force=true) once you know why it is '
     'paused. Restored: nothing needed. The source runs the workload.'),
    ('role: configure without passwords', {'switchover_reverse': {'method': 'configure'}, 'switchover_traffic': TRAFFIC},
     "{host}: the reverse task of this unit is a configured incremental-only migration task (switchover_reverse.method=configure), and "
     "DTS does not return the databases' passwords: set switchover_reverse.source_password and switchover_reverse.destination_password."),
    ('role: unknown reverse method', {'switchover_reverse': {'method': 'twoway'}},
     '{host}: switchover_reverse.method is auto, reverse_api or configure (got twoway); switchover_reverse.arm is before_fence or '
     'in_window (got before_fence); switchover_cutover is armed or fast (got armed).'),
    ('role: unknown cut-over', {'switchover_cutover': 'now'},
     '{host}: switchover_reverse.method is auto, reverse_api or configure (got auto); switchover_reverse.arm is before_fence or '
     'in_window (got before_fence); switchover_cutover is armed or fast (got now).'),
    ('role: fast cut-over armed in the window', {'switchover_cutover': 'fast', 'switchover_reverse': {'arm': 'in_window'}},
     '{host}: switchover_cutover=fast starts the applications on the destination before the reverse task runs, so it needs a reverse '
     'task created and prechecked before the fence (switchover_reverse.arm=before_fence), which only a reverse instance gives '
     '(CreateReverseDtsJob: MySQL, SQL Server, MongoDB). This unit\'s reverse task is armed inside the window. Use switchover_cutover=armed.'),
    ('role: reverse_api for PostgreSQL', {'switchover_reverse': {'method': 'reverse_api'},
                                          'switchover_source': {'engine': 'postgresql', 'login_host': '127.0.0.1'}},
     '{host}: switchover_reverse.method=reverse_api, but DTS creates reverse instances (CreateReverseDtsJob) only between two MySQL, two '
     'SQL Server or two MongoDB databases, and this unit goes from postgresql to mysql. Set switchover_reverse.method to auto or configure '
     '(with source_password and destination_password).'),
]

SECRETS = {
    'access_key_secret': 'sts-secret-Q9vW2xLk7Pz',
    'security_token': 'sts-token-Hj4mN8rT1cX',
    'login_password': None,          # the MariaDB admin password, set by the test
    'source_password': 'reverse-src-pw-Zt5Gk2',
    'destination_password': 'reverse-dst-pw-Wq8Lp3',
}
TRACEBACK = 'Traceback (most recent call last)'


@pytest.fixture
def tasks(emulator, mariadb, tmp_path):
    """The DTS tasks and files the cases refer to, and the placeholders' values."""
    endpoint = {'engine': 'MySQL', 'host': '127.0.0.1', 'port': mariadb.port, 'user': 'dts_migration'}
    job = emulator.add_job(name='bad-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=0)
    paused = emulator.add_job(name='bad-%s' % uuid.uuid4().hex[:8], status='Suspending', phase='incremental', delay=0,
                              source=dict(endpoint, database='shop'), destination=dict(endpoint, database='shop'),
                              db_object='{"shop":{"name":"shop","all":true}}')
    (tmp_path / 'not-a-journal.json').write_text('{"hello": "world"}')
    return {'job': job.job_id, 'paused': paused.job_id, 'port': str(mariadb.port), 'dir': str(tmp_path), 'region': emulator.region}


def fill(value, places):
    """``value`` with {placeholders} replaced, in strings, lists and dicts."""
    if isinstance(value, str):
        for key, replacement in places.items():
            value = value.replace('{%s}' % key, replacement)
        return value
    if isinstance(value, list):
        return [fill(item, places) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, places) for key, item in value.items()}
    return value


def connection(module, dts_options, admin):
    """The connection options a case of ``module`` starts from."""
    if module.startswith('dts_'):
        return dict(dts_options)
    if module == 'db_caught_up':
        return {'source': dict(admin), 'destination': dict(admin)}
    if module.startswith('db_'):
        return dict(admin)
    return {}


def module_task(index, module, args, dts_options, admin, places):
    options = connection(module, dts_options, admin)
    options.update(fill(args, places))
    options = {key: value for key, value in options.items() if value is not None}
    if options.get('fence') == '{fence}':
        options['fence'] = '{{ probe.fence }}'
    return {'name': 'case %d' % index, 'dtsops.switchover.%s' % module: options, 'ignore_errors': True}


def role_unit(dts_options, admin, places, overrides, index):
    unit = {
        'switchover_job_id': places['job'],
        'switchover_dts': dict(dts_options),
        'switchover_source': dict(admin),
        'switchover_destination': dict(admin),
        'switchover_fence_scope': 'instance',
        'switchover_catch_up': 'stable_window',
        'switchover_state_dir': os.path.join(places['dir'], 'state-%d' % index),
    }
    for key, value in fill(overrides, places).items():
        if value is None:
            unit.pop(key, None)
        else:
            unit[key] = value
    return unit


def by_reference(value, references):
    """``value`` with every secret replaced by a reference to the variable that holds it."""
    if isinstance(value, str):
        return references.get(value, value)
    if isinstance(value, list):
        return [by_reference(item, references) for item in value]
    if isinstance(value, dict):
        return {key: by_reference(item, references) for key, item in value.items()}
    return value


def expected(message, places):
    return None if message is None else fill(message, places)


def matches(actual, wanted):
    if wanted.endswith('...'):
        return actual.startswith(wanted[:-3])
    return actual == wanted


def test_every_bad_input_gets_its_one_clear_message(emulator, dts_options, mariadb, tasks):
    places = dict(tasks)
    admin = dict(mariadb.params)
    prelude = [
        {'name': 'probe', 'dtsops.switchover.db_write_lock': dict(admin, scope='instance'), 'check_mode': True, 'register': 'probe'},
        {'name': 'open journal', 'dtsops.switchover.switchover_journal': {'path': places['dir'] + '/open.json', 'operation': 'begin', 'unit': 'u'}},
    ]
    module_play = {'name': 'modules', 'hosts': 'localhost', 'gather_facts': False,
                   'tasks': prelude + [module_task(index, module, args, dts_options, admin, places)
                                       for index, (dummy, module, args, dummy) in enumerate(MODULE_CASES)]}
    role_play = {'name': 'role', 'hosts': 'role_cases', 'gather_facts': False, 'roles': ['dtsops.switchover.switchover']}
    hosts = {'localhost': {}}
    for index, (dummy, overrides, dummy) in enumerate(ROLE_CASES):
        hosts['role_case_%d' % index] = role_unit(dts_options, admin, places, overrides, index)
    inventory = local_inventory(hosts)
    inventory['all']['children'] = {'role_cases': {'hosts': {name: None for name in hosts if name.startswith('role_case_')}}}
    before = len(emulator.requests)
    run = run_playbook([module_play, role_play], inventory=inventory, env={'ANSIBLE_FORKS': '20'})
    assert run.task('probe')['fence'], run
    places['run_id'] = run.task('open journal')['journal']['run_id']

    seen, wrong = [], []
    for index, (case, module, dummy, message) in enumerate(MODULE_CASES):
        result = run.task('case %d' % index)
        actual = result.get('msg', '')
        seen.append((case, actual))
        if run.status('case %d' % index) != 'failed' or TRACEBACK in json.dumps(result) or message is None \
                or not matches(actual, expected(message, places)):
            wrong.append((case, actual))
    for index, (case, dummy, message) in enumerate(ROLE_CASES):
        host = 'role_case_%d' % index
        failures = [record['result'] for record in run.results if record['host'] == host and record['status'] == 'failed']
        actual = failures[-1].get('msg', '') if failures else '(did not fail)'
        seen.append((case, actual))
        wanted = expected(message, dict(places, host=host))
        if not failures or TRACEBACK in json.dumps(failures) or message is None or not matches(' '.join(actual.split()), wanted):
            wrong.append((case, actual))
    assert not wrong, '\n'.join('%s\n    %r' % item for item in wrong)
    # Nothing was asked of DTS that changes a task.
    changing = [entry['action'] for entry in emulator.requests[before:] if not entry['action'].startswith('Describe')]
    assert changing == []


def test_no_secret_in_verbose_output(emulator, dts_options, mariadb, tasks):
    """-vvv with every secret option set, in tasks that succeed and tasks that fail, and in the
    role (check mode): none of the secrets appears in the output."""
    places = dict(tasks)
    admin = dict(mariadb.params)
    secrets = dict(SECRETS, login_password=admin['login_password'], wrong_password='wrong-pw-Rk3Nq7Vd')
    emulator.issue_sts_token('STS.bad-input-matrix', secrets['access_key_secret'], secrets['security_token'])
    sts = dict(dts_options, access_key_id='STS.bad-input-matrix', access_key_secret=secrets['access_key_secret'],
               security_token=secrets['security_token'])
    reverse = {'method': 'configure', 'source_password': secrets['source_password'], 'destination_password': secrets['destination_password']}
    module_tasks = [
        {'name': 'read a task', 'dtsops.switchover.dts_task_info': dict(sts, job_id=places['job'])},
        {'name': 'wait', 'dtsops.switchover.dts_wait_undelayed': dict(sts, job_id=places['job'], timeout=5)},
        {'name': 'plan a reverse task', 'dtsops.switchover.dts_reverse_task': dict(sts, job_id=places['paused'], **reverse),
         'check_mode': True},
        {'name': 'refused reverse task', 'dtsops.switchover.dts_reverse_task': dict(sts, job_id=places['job'], **reverse),
         'ignore_errors': True},
        {'name': 'sessions', 'dtsops.switchover.db_sessions_quiesced': dict(admin, timeout=0), 'check_mode': True},
        {'name': 'wrong password', 'dtsops.switchover.db_sessions_quiesced': dict(admin, login_password=secrets['wrong_password']),
         'ignore_errors': True},
        {'name': 'plan a fence', 'dtsops.switchover.db_write_lock': dict(admin, scope='instance'), 'check_mode': True},
        {'name': 'token', 'dtsops.switchover.db_caught_up': {'source': admin, 'destination': admin, 'token_object': 'shop.nosuchtable'},
         'ignore_errors': True},
    ]
    unit = role_unit(sts, admin, places, {'switchover_reverse': reverse, 'switchover_traffic': TRAFFIC}, 0)
    # As users pass them: from variables (a vault), not written into the playbook, whose lines
    # ansible-core quotes around a failed task.
    references = {value: '{{ secret_%s }}' % name for name, value in secrets.items()}
    variables = {'secret_%s' % name: value for name, value in secrets.items()}
    inventory = local_inventory({'localhost': variables, 'unit': dict(by_reference(unit, references), **variables)})
    module_tasks = by_reference(module_tasks, references)
    run = run_playbook([{'name': 'modules', 'hosts': 'localhost', 'gather_facts': False, 'tasks': module_tasks},
                        {'name': 'role', 'hosts': 'unit', 'gather_facts': False, 'roles': ['dtsops.switchover.switchover']}],
                       inventory=inventory, verbosity=3, check=False, args=('--check',))
    # The runs did reach DTS and the database, with the secrets.
    assert run.task('read a task')['jobs'][0]['job_id'] == places['job'], run
    assert 'sessions' in run.task('sessions'), run
    assert run.status('wrong password') == 'failed' and 'access denied' in run.task('wrong password')['msg'], run
    assert any(record['host'] == 'unit' for record in run.results), run
    output = run.stdout + run.stderr
    leaked = sorted(name for name, value in secrets.items() if value in output)
    # Where each one leaked, with the secret itself masked.
    where = ['%s: ...%s...' % (name, output[max(0, output.index(secrets[name]) - 300):output.index(secrets[name]) + 100]
                               .replace(secrets[name], '<%s>' % name)) for name in leaked]
    assert leaked == [], 'secrets in the -vvv output:\n' + '\n'.join(where)


def test_the_role_runs_without_a_traffic_method(dts_options, mariadb, tasks):
    unit = role_unit(dts_options, dict(mariadb.params), dict(tasks), {}, 0)
    run = run_playbook([{'name': 'role', 'hosts': 'unit', 'gather_facts': False, 'roles': ['dtsops.switchover.switchover']}],
                       inventory=local_inventory({'unit': unit}), check=True)
    assert run.rc == 0, run
