"""Every documented bad input of every module and of the role's variables, with the exact message
the user sees, in one table and two ansible-playbook runs: the modules' cases as ignore_errors
tasks of one play, the role's cases as one host each in a second play. Then a -vvv run with every
secret option set, whose output must not contain any of the secrets.

``{job}``, ``{paused}``, ``{port}``, ``{dir}`` and ``{region}`` in a message stand for the test's
task ids, the MariaDB port, the working directory and the region."""

import json
import os
import uuid

import pymysql
import pytest

from fixtures_db import unique_name
from harness import local_inventory, run_playbook

# (case, module, arguments, message). The module's DTS or database connection options are added
# by the test (see ``connection``). '...' in a message stands for the server's or Python's own
# words, which the table does not pin.
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
     {'job_id': '{paused}', 'method': 'reverse_api', 'source_password': 'src-pw-Kq93', 'db_list': {'a': 1}},
     'db_list, source_password only apply to method: configure (or auto, which may fall back to it).'),
    ('dts_reverse_task: one password', 'dts_reverse_task', {'job_id': '{paused}', 'method': 'configure', 'source_password': 'src-pw-Kq93'},
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
    ('dts_reverse_task: start before the pause', 'dts_reverse_task', {'job_id': '{job}', 'method': 'configure', 'source_password': 'src-pw-Kq93',
                                                                      'destination_password': 'dst-pw-Lv27'},
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
    ('db_sessions_quiesced: timeout < 0', 'db_sessions_quiesced', {'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ('db_sessions_quiesced: poll_interval 0', 'db_sessions_quiesced', {'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
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
    ('db_caught_up: timeout < 0', 'db_caught_up', {'token_object': 'shop.t', 'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ('db_caught_up: poll_interval 0', 'db_caught_up', {'token_object': 'shop.t', 'poll_interval': 0}, 'poll_interval must be more than 0 seconds, got 0.'),
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

# (case, role variables over a realistic unit, message). The unit (fixture ``unit``): two MariaDB
# servers with the database {db}, a task in incremental migration between them, an application
# account, the migration account, the token table, traffic by task files on localhost. Each case
# is one inventory host; every case must fail before anything changes (checked on the servers and
# in DTS, after the run). ``{dport}``/``{pgport}``: the destination's and PostgreSQL's ports.


def without(options, *keys):
    return dict((key, value) for key, value in options.items() if key not in keys)


UNIT_RULES = ("{host}: check the unit's variables. switchover_job_id, switchover_source.engine and switchover_destination.engine are "
              'required; switchover_fence_scope=accounts needs switchover_app_accounts; switchover_catch_up=token needs '
              'switchover_token_object; switchover_traffic.method is none, service (with hosts and service) or tasks (with hosts, '
              'stop_tasks and start_tasks); switchover_write_budget must be positive.')
ABORT = 'Aborted {host} before the point of no return: %s. Restored: nothing needed. The source runs the workload.'
CHOICES = ('{host}: switchover_reverse.method is auto, reverse_api or configure (got %s); switchover_reverse.arm is before_fence or '
           'in_window (got %s); switchover_cutover is armed or fast (got %s); switchover_verify is none, count or checksum (got %s); '
           'switchover_verify_when is before_switch or after_switch (got %s).')
CHECK = 'Check the unit against its DTS task: '
MISMATCH = CHECK + 'The unit does not match DTS task {job} (region {region}): '
TRAFFIC = {'method': 'tasks', 'hosts': 'localhost', 'stop_tasks': '{dir}/stop.yml', 'start_tasks': '{dir}/start.yml'}
SOURCE = dict(engine='mysql', login_host='127.0.0.1', login_port='{port}', login_user='root', login_password='{password}', login_db='{db}')
DESTINATION = dict(SOURCE, login_port='{dport}', login_password='{dpassword}')
CONNECT = CHECK + 'Cannot connect to the %s (switchover_%s) mysql at 127.0.0.1:%s: '
ROLE_CASES = [
    # -- the unit's variables (plan.yml) ----------------------------------------------------------
    ('role: no job id', {'switchover_job_id': None}, UNIT_RULES),
    ('role: budget not a number', {'switchover_write_budget': 'soon'},
     "Validation of arguments failed: argument 'switchover_write_budget' is of type str and we were unable to convert to int: "
     '"\'soon\'" cannot be converted to an int'),
    ('role: unknown fence scope', {'switchover_fence_scope': 'table'},
     'Validation of arguments failed: value of switchover_fence_scope must be one of: auto, accounts, instance, got: table'),
    ('role: unknown catch-up', {'switchover_catch_up': 'hope'},
     'Validation of arguments failed: value of switchover_catch_up must be one of: auto, token, stable_window, got: hope'),
    ('role: no source engine', {'switchover_source': without(SOURCE, 'engine')}, UNIT_RULES),
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
    ('role: configure without passwords', {'switchover_reverse': {'method': 'configure'}},
     '{host}: the reverse task of this unit is a configured incremental-only migration task (switchover_reverse.method=configure), and '
     "DTS does not return the databases' passwords: set switchover_reverse.source_password and switchover_reverse.destination_password."),
    ('role: unknown reverse method', {'switchover_reverse': {'method': 'twoway'}}, CHOICES % ('twoway', 'before_fence', 'armed', 'none', 'before_switch')),
    ('role: unknown arming', {'switchover_reverse': {'arm': 'later'}}, CHOICES % ('auto', 'later', 'armed', 'none', 'before_switch')),
    ('role: unknown cut-over', {'switchover_cutover': 'now'},
     'Validation of arguments failed: value of switchover_cutover must be one of: armed, fast, got: now'),
    ('role: unknown verification', {'switchover_verify': 'rows'},
     'Validation of arguments failed: value of switchover_verify must be one of: none, count, checksum, got: rows'),
    ('role: unknown verification time', {'switchover_verify_when': 'never'},
     'Validation of arguments failed: value of switchover_verify_when must be one of: before_switch, after_switch, got: never'),
    ('role: fast cut-over armed in the window', {'switchover_cutover': 'fast', 'switchover_reverse': {'arm': 'in_window'}},
     '{host}: switchover_cutover=fast starts the applications on the destination before the reverse task runs, so it needs a reverse '
     'task created and prechecked before the fence (switchover_reverse.arm=before_fence), which only a reverse instance gives '
     "(CreateReverseDtsJob: MySQL, SQL Server, MongoDB). This unit's reverse task is armed inside the window. Use switchover_cutover=armed."),
    ('role: reverse_api for PostgreSQL', {'switchover_reverse': {'method': 'reverse_api'},
                                          'switchover_source': dict(SOURCE, engine='postgresql')},
     '{host}: switchover_reverse.method=reverse_api, but DTS creates reverse instances (CreateReverseDtsJob) only between two MySQL, two '
     'SQL Server or two MongoDB databases, and this unit goes from postgresql to mysql. Set switchover_reverse.method to auto or configure '
     '(with source_password and destination_password).'),
    ('role: auto picks configure for PostgreSQL, without passwords',
     {'switchover_reverse': {'method': 'auto'}, 'switchover_source': dict(SOURCE, engine='postgresql'),
      'switchover_destination': dict(DESTINATION, engine='postgresql')},
     '{host}: the reverse task of this unit is a configured incremental-only migration task (switchover_reverse.method=auto, which picks '
     "configure for postgresql), and DTS does not return the databases' passwords: set switchover_reverse.source_password and "
     'switchover_reverse.destination_password.'),
    ('role: timeout not a number', {'switchover_undelayed_timeout': 'soon'},
     "Validation of arguments failed: argument 'switchover_undelayed_timeout' is of type str and we were unable to convert to int: "
     '"\'soon\'" cannot be converted to an int'),
    ('role: negative catch-up timeout', {'switchover_catch_up_timeout': -1}, '{host}: switchover_catch_up_timeout must be 0 or more seconds, got -1.'),
    ('role: negative quiesce timeout', {'switchover_quiesce_timeout': -5}, '{host}: switchover_quiesce_timeout must be 0 or more seconds, got -5.'),
    ('role: poll interval 0', {'switchover_poll_interval': 0}, '{host}: switchover_poll_interval must be more than 0 seconds, got 0.'),
    ('role: unknown hook', {'switchover_hooks': {'before_fencing': '{dir}/stop.yml'}},
     '{host}: switchover_hooks has before_fencing, which names no phase: use before_<phase> or after_<phase>, for example before_fence '
     '(phases: ...).'),
    ('role: missing hook file', {'switchover_hooks': {'before_fence': '{dir}/no-such-hook.yml'}},
     '{host}: switchover_hooks.before_fence is {dir}/no-such-hook.yml, which is not a task file: give the path of one.'),
    ('role: missing traffic task file', {'switchover_traffic': dict(TRAFFIC, stop_tasks='{dir}/no-such-stop.yml')},
     '{host}: switchover_traffic.stop_tasks is {dir}/no-such-stop.yml, which is not a task file: give the path of one.'),
    ('role: unknown application host', {'switchover_traffic': dict(TRAFFIC, hosts='no_such_app_host')},
     '{host}: switchover_traffic.hosts (no_such_app_host) matches no host of the inventory.'),
    # -- the task and DTS (the preflight's unit check) --------------------------------------------
    ('role: unknown task', {'switchover_job_id': 'nosuchjob00001'}, ABORT % (CHECK + 'DTS task nosuchjob00001 not found in region {region}')),
    ('role: task of another unit', {'switchover_job_id': '{pgjob}'},
     ABORT % (CHECK + "The unit does not match DTS task {pgjob} (region {region}): switchover_source.engine is mysql, but DTS task {pgjob}'s "
              'source (SourceEndpoint.EngineName) is PostgreSQL: set switchover_source.engine to postgresql, or check switchover_job_id. '
              "switchover_source points at 127.0.0.1:{port}, but DTS task {pgjob}'s source (SourceEndpoint.Ip/Port) is 127.0.0.1:{pgport}: "
              "set switchover_source.login_host and switchover_source.login_port to the task's source, or check switchover_job_id")),
    ('role: paused task', {'switchover_job_id': '{paused}'},
     ABORT % ('Refuse a task that cannot be switched over: The DTS task {paused} is Suspending (phase paused). Resume a paused task '
              'deliberately (dtsops.switchover.dts_task state=running force=true) once you know why it is paused')),
    ('role: wrong AccessKey secret', {'switchover_dts': {'access_key_secret': 'not-the-secret'}},
     ABORT % (CHECK + 'DTS rejected the credentials: the signature does not match: the AccessKey secret is not the one of this AccessKey ID '
              '(SignatureDoesNotMatch). Used AccessKey ID LTAI****y01 (from the access_key_id option) and the AccessKey secret from the '
              'access_key_secret option')),
    ('role: no AccessKey', {'switchover_dts': {'access_key_id': '', 'access_key_secret': ''}},
     ABORT % (CHECK + 'DTS needs an AccessKey ID (the access_key_id option, or ALIBABA_CLOUD_ACCESS_KEY_ID, ALICLOUD_ACCESS_KEY or '
              'ALICLOUD_ACCESS_KEY_ID); an AccessKey secret (the access_key_secret option, or ALIBABA_CLOUD_ACCESS_KEY_SECRET, '
              'ALICLOUD_SECRET_KEY or ALICLOUD_SECRET_ACCESS_KEY)')),
    ('role: wrong region', {'switchover_dts': {'region': 'cn-nowhere'}}, ABORT % (CHECK + 'DTS task {job} not found in region cn-nowhere')),
    # -- the connections ---------------------------------------------------------------------------
    ('role: source engine', {'switchover_source': dict(SOURCE, engine='postgresql')},
     ABORT % (MISMATCH + "switchover_source.engine is postgresql, but DTS task {job}'s source (SourceEndpoint.EngineName) is MySQL: set "
              'switchover_source.engine to mysql, or check switchover_job_id')),
    ('role: destination engine', {'switchover_destination': dict(DESTINATION, engine='redis')},
     ABORT % (MISMATCH + "switchover_destination.engine is redis, but DTS task {job}'s destination (DestinationEndpoint.EngineName) is "
              'MySQL: set switchover_destination.engine to mysql, or check switchover_job_id')),
    ('role: source is the destination', {'switchover_source': DESTINATION},
     ABORT % (MISMATCH + "switchover_source points at 127.0.0.1:{dport}, but DTS task {job}'s source (SourceEndpoint.Ip/Port) is "
              "127.0.0.1:{port}: set switchover_source.login_host and switchover_source.login_port to the task's source, or check "
              'switchover_job_id')),
    ('role: destination is the source', {'switchover_destination': SOURCE},
     ABORT % (MISMATCH + "switchover_destination points at 127.0.0.1:{port}, but DTS task {job}'s destination (DestinationEndpoint.Ip/Port) "
              "is 127.0.0.1:{dport}: set switchover_destination.login_host and switchover_destination.login_port to the task's "
              'destination, or check switchover_job_id')),
    ('role: destination port of PostgreSQL', {'switchover_destination': dict(DESTINATION, login_port='{pgport}')},
     ABORT % (MISMATCH + "switchover_destination points at 127.0.0.1:{pgport}, but DTS task {job}'s destination (DestinationEndpoint.Ip/Port) "
              "is 127.0.0.1:{dport}: set switchover_destination.login_host and switchover_destination.login_port to the task's "
              'destination, or check switchover_job_id')),
    ('role: one server, one database', {'switchover_job_id': '{samejob}', 'switchover_destination': SOURCE},
     ABORT % (CHECK + 'The unit does not match DTS task {samejob} (region {region}): switchover_source (127.0.0.1:{port}) and '
              'switchover_destination (127.0.0.1:{port}) reach the same server (mysql @@hostname:@@port:@@datadir (server_id) {server}) '
              "and the same database {db}: point switchover_destination at the task's destination (or switchover_source at its source), "
              'or check switchover_job_id')),
    ('role: source host', {'switchover_source': dict(SOURCE, login_host='db.invalid')},
     ABORT % (CHECK + 'Cannot connect to the source (switchover_source) mysql at db.invalid:{port}: server unreachable: check login_host, '
              "login_port and that the server runs (MySQL error 2003: Can't connect to MySQL server on 'db.invalid' (...))")),
    ('role: source login_user', {'switchover_source': dict(SOURCE, login_user='nobody_here')},
     ABORT % (CONNECT % ('source', 'source', '{port}') + 'access denied: check login_user and login_password (MySQL error 1045: '
              "Access denied for user 'nobody_here'@'127.0.0.1' (using password: YES))")),
    ('role: destination password', {'switchover_destination': dict(DESTINATION, login_password='not-the-password')},
     ABORT % (CONNECT % ('destination', 'destination', '{dport}') + 'access denied: check login_user and login_password (MySQL error 1045: '
              "Access denied for user 'root'@'127.0.0.1' (using password: YES))")),
    ('role: source password', {'switchover_source': dict(SOURCE, login_password='not-the-password')},
     ABORT % (CONNECT % ('source', 'source', '{port}') + 'access denied: check login_user and login_password (MySQL error 1045: '
              "Access denied for user 'root'@'127.0.0.1' (using password: YES))")),
    ('role: destination login_user', {'switchover_destination': dict(DESTINATION, login_user='nobody_here')},
     ABORT % (CONNECT % ('destination', 'destination', '{dport}') + 'access denied: check login_user and login_password (MySQL error '
              "1045: Access denied for user 'nobody_here'@'127.0.0.1' (using password: YES))")),
    ('role: destination host', {'switchover_destination': dict(DESTINATION, login_host='10.255.255.1')},
     ABORT % (MISMATCH + "switchover_destination points at 10.255.255.1:{dport}, but DTS task {job}'s destination "
              '(DestinationEndpoint.Ip/Port) is 127.0.0.1:{dport}: set switchover_destination.login_host and '
              "switchover_destination.login_port to the task's destination, or check switchover_job_id")),
    ('role: destination database', {'switchover_destination': dict(DESTINATION, login_db='nosuchdb')},
     ABORT % (CONNECT % ('destination', 'destination', '{dport}') + "unknown database: check login_db (MySQL error 1049: Unknown "
              "database 'nosuchdb')")),
    ('role: destination instance_id', {'switchover_job_id': '{rdsjob}',
                                       'switchover_destination': dict(DESTINATION, instance_id='rm-other0instance')},
     ABORT % (CHECK + 'The unit does not match DTS task {rdsjob} (region {region}): switchover_destination.instance_id is '
              "rm-other0instance, but DTS task {rdsjob}'s destination (DestinationEndpoint.InstanceID) is rm-test0unit0check: point "
              'switchover_destination at that instance (instance_id and its connection), or check switchover_job_id')),
    ('role: source client_cert missing', {'switchover_source': dict(SOURCE, ssl_mode='require', client_cert='{dir}/no-such-cert.pem',
                                                                    client_key='{dir}/no-such-key.pem')},
     ABORT % (CONNECT % ('source', 'source', '{port}') + 'cannot load the TLS files (ca_cert, client_cert, client_key): ...')),
    ('role: source database', {'switchover_source': dict(SOURCE, login_db='nosuchdb')},
     ABORT % (CONNECT % ('source', 'source', '{port}') + "unknown database: check login_db (MySQL error 1049: Unknown database 'nosuchdb')")),
    ('role: destination ssl_mode without ca_cert', {'switchover_destination': dict(DESTINATION, ssl_mode='verify-ca')},
     ABORT % (CONNECT % ('destination', 'destination', '{dport}') + 'ssl_mode verify-ca needs ca_cert (the CA that signed the server '
              'certificate)')),
    ('role: source ca_cert missing', {'switchover_source': dict(SOURCE, ssl_mode='verify-ca', ca_cert='{dir}/no-such-ca.pem')},
     ABORT % (CONNECT % ('source', 'source', '{port}') + 'cannot load the TLS files (ca_cert, client_cert, client_key): ...')),
    ('role: unknown ssl_mode', {'switchover_source': dict(SOURCE, ssl_mode='always')},
     ABORT % (CHECK + 'value of ssl_mode must be one of: disable, prefer, require, verify-ca, verify-full, got: always found in source')),
    ('role: connect_timeout not a number', {'switchover_destination': dict(DESTINATION, connect_timeout='soon')},
     ABORT % (CHECK + "argument 'connect_timeout' is of type str found in 'destination'. and we were unable to convert to int: ...")),
    # -- accounts and the token --------------------------------------------------------------------
    ('role: unknown application account', {'switchover_app_accounts': ['nobody_here']},
     ABORT % ("Check the source's accounts and the fence it would take: Error while applying the fence on the mysql server at "
              '127.0.0.1:{port}: account(s) not found on 127.0.0.1:{port}: nobody_here (any host); check the accounts option '
              '(SELECT User, Host FROM mysql.user lists them)')),
    ('role: migration account fenced', {'switchover_app_accounts': ['{migration}']},
     ABORT % ("Check the source's accounts and the fence it would take: accounts {migration} are also in exclude_users: the migration "
              'account must not be fenced. Remove them from one of the two lists')),
    ('role: missing token table', {'switchover_token_object': '{db}.nosuchtable'},
     ABORT % ('Check the catch-up token on both databases: Error while checking the token object {db}.nosuchtable on the mysql server at '
              '127.0.0.1:{port}: token table {db}.nosuchtable does not exist on 127.0.0.1:{port}: create it (create: true) and include it '
              'in the migration objects')),
    ('role: token object without database', {'switchover_token_object': 'table_only', 'switchover_source': without(SOURCE, 'login_db')},
     ABORT % ('Check the catch-up token on both databases: Error while checking the token object table_only on the mysql server at '
              "127.0.0.1:{port}: name the token table as database.table (or set login_db): got 'table_only'")),
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


TOKEN_TABLE = '(token VARCHAR(128) NOT NULL PRIMARY KEY, written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6))'


@pytest.fixture
def unit(emulator, dts_options, mariadb, mariadb_destination, postgresql, tmp_path):
    """A realistic unit (see ROLE_CASES), its tasks, and the placeholders' values. Afterwards:
    ``can_write(server)`` says whether the application account still writes there."""
    database, app, migration = unique_name('shop'), unique_name('app'), unique_name('dts')
    app_password = uuid.uuid4().hex
    for server in (mariadb, mariadb_destination):
        server.create_database(database)
        server.execute('CREATE TABLE `%s`.items (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64))' % database)
        server.execute('CREATE TABLE `%s`.dtsops_token %s' % (database, TOKEN_TABLE))
        server.create_account(app, app_password, grants=['SELECT, INSERT ON `%s`.*' % database])
        server.create_account(migration, grants=['ALL ON `%s`.*' % database])
    for action in ('stop', 'start'):
        (tmp_path / ('%s.yml' % action)).write_text('- name: Traffic\n  ansible.builtin.debug:\n    msg: %s\n' % action)

    def endpoint(server, engine='MySQL'):
        return {'engine': engine, 'host': '127.0.0.1', 'port': server.port, 'user': migration, 'database': database}

    def job(source, destination, status='Migrating'):
        return emulator.add_job(name='bad-role-%s' % uuid.uuid4().hex[:8], status=status, phase='incremental', delay=0, source=source,
                                destination=destination, db_object=json.dumps({database: {'name': database, 'all': True}})).job_id

    places = {
        'job': job(endpoint(mariadb), endpoint(mariadb_destination)),
        'paused': job(endpoint(mariadb), endpoint(mariadb_destination), status='Suspending'),
        'pgjob': job(endpoint(postgresql, 'PostgreSQL'), endpoint(mariadb_destination)),
        'samejob': job(endpoint(mariadb), endpoint(mariadb)),
        'rdsjob': job(endpoint(mariadb), {'engine': 'MySQL', 'instance_type': 'RDS', 'instance_id': 'rm-test0unit0check'}),
        'port': str(mariadb.port), 'dport': str(mariadb_destination.port), 'pgport': str(postgresql.port), 'db': database,
        'password': mariadb.params['login_password'], 'dpassword': mariadb_destination.params['login_password'],
        'migration': migration, 'dir': str(tmp_path), 'region': emulator.region,
    }
    places['server'] = '%s:%s:%s (server_id %s)' % tuple(mariadb.execute('SELECT @@hostname, @@port, @@datadir, @@server_id')[0])
    base = {
        'switchover_job_id': places['job'],
        'switchover_dts': dict(dts_options),
        'switchover_source': SOURCE,
        'switchover_destination': DESTINATION,
        'switchover_app_accounts': [app],
        'switchover_migration_account': migration,
        'switchover_token_object': '%s.dtsops_token' % database,
        'switchover_traffic': TRAFFIC,
        'switchover_poll_interval': 0.2,
        # What method auto needs when it picks configure (a wrong engine in a case): the wrong
        # engine must be what the run reports, not the passwords.
        'switchover_reverse': {'method': 'auto', 'source_password': 'reverse-source-pw', 'destination_password': 'reverse-destination-pw'},
    }

    def can_write(server):
        try:
            conn = server.connect(user=app, password=app_password, database=database)
        except pymysql.err.OperationalError:
            return False
        try:
            with conn.cursor() as cursor:
                cursor.execute('INSERT INTO items (v) VALUES (%s)', ('probe',))
            return True
        except pymysql.err.OperationalError:
            return False
        finally:
            conn.close()

    yield {'places': places, 'base': base, 'can_write': can_write}
    for server in (mariadb, mariadb_destination):
        server.drop_account(app)
        server.drop_account(migration)
        server.drop_database(database)


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


def role_unit(base, places, overrides, index):
    """The unit's variables with ``overrides``: None removes a variable, switchover_dts is merged."""
    unit = fill(dict(base, switchover_state_dir=os.path.join(places['dir'], 'state-%d' % index)), places)
    for key, value in fill(overrides, places).items():
        if value is None:
            unit.pop(key, None)
        elif key == 'switchover_dts':
            unit[key] = dict(unit[key], **value)
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
    """``wanted`` may leave out parts as '...': the server's or Python's own words."""
    if '...' in wanted:
        head, tail = wanted.split('...', 1)
        return actual.startswith(head) and actual.endswith(tail) and len(actual) >= len(head) + len(tail)
    return actual == wanted


def test_every_bad_input_gets_its_one_clear_message(emulator, dts_options, mariadb, mariadb_destination, tasks, unit):
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
        hosts['role_case_%d' % index] = role_unit(unit['base'], unit['places'], overrides, index)
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
        wanted = expected(message, dict(unit['places'], host=host))
        if not failures or TRACEBACK in json.dumps(failures) or message is None or not matches(' '.join(actual.split()), wanted):
            wrong.append((case, actual))
    assert not wrong, '\n'.join('%s\n    %r' % item for item in wrong)
    # Nothing was asked of DTS that changes a task.
    changing = [entry['action'] for entry in emulator.requests[before:] if not entry['action'].startswith('Describe')]
    assert changing == []
    # The role's mistakes changed nothing, as the servers and DTS tell: both servers writable, the
    # application account unlocked on both, the task still running, no reverse task.
    for server in (mariadb, mariadb_destination):
        assert server.execute('SELECT @@global.read_only')[0][0] == 0
        assert unit['can_write'](server)
    forward = emulator.job(unit['places']['job'])
    assert forward.status == 'Migrating' and not forward.released
    assert [job.job_id for job in emulator.jobs(released=True) if getattr(job, 'reverse_of', None)
            in (unit['places']['job'], unit['places']['samejob'])] == []
    # And the journals say that no run went past the preflight.
    for index in range(len(ROLE_CASES)):
        path = os.path.join(unit['places']['dir'], 'state-%d' % index, 'role_case_%d.json' % index)
        if os.path.exists(path):
            with open(path) as stream:
                assert set(json.load(stream)['phases']) <= {'preflight', 'abort'}, ROLE_CASES[index][0]


def test_no_secret_in_verbose_output(emulator, dts_options, mariadb, tasks, unit):
    """-vvv with every secret option set, in tasks that succeed and tasks that fail, and in the
    role (check mode): none of the secrets appears in the output."""
    places = dict(tasks)
    admin = dict(mariadb.params)
    secrets = dict(SECRETS, login_password=admin['login_password'], destination_login_password=unit['places']['dpassword'],
                   wrong_password='wrong-pw-Rk3Nq7Vd')
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
    unit_vars = role_unit(unit['base'], unit['places'], {'switchover_dts': sts, 'switchover_reverse': reverse}, 0)
    # As users pass them: from variables (a vault), not written into the playbook, whose lines
    # ansible-core quotes around a failed task.
    references = {value: '{{ secret_%s }}' % name for name, value in secrets.items()}
    variables = {'secret_%s' % name: value for name, value in secrets.items()}
    inventory = local_inventory({'localhost': variables, 'unit': dict(by_reference(unit_vars, references), **variables)})
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


def test_the_role_runs_without_a_traffic_method(unit):
    """Check mode, without a traffic method: the plan starts with the unit check, which names
    what it could not check (a destination that DTS describes by instance id only)."""
    places = unit['places']
    units = {'unit': role_unit(unit['base'], places, {'switchover_traffic': {'method': 'none'}}, 0),
             'rds': role_unit(unit['base'], places, {'switchover_traffic': {'method': 'none'}, 'switchover_job_id': places['rdsjob']}, 1)}
    inventory = local_inventory(units)
    inventory['all']['children'] = {'units': {'hosts': {'unit': None, 'rds': None}}}
    run = run_playbook([{'name': 'role', 'hosts': 'units', 'gather_facts': False, 'roles': ['dtsops.switchover.switchover']}],
                       inventory=inventory, check=True)
    assert run.rc == 0, run
    plan = run.task('Show the plan with live values', host='unit')['msg']
    assert plan[0].startswith('preflight: unit matches the task: source_engine, source_address, destination_engine, destination_address, '
                              'distinct_servers; task %s Migrating/incremental' % places['job']), plan
    rds = run.task('Show the plan with live values', host='rds')['msg']
    assert rds[0].startswith('preflight: unit matches the task: source_engine, source_address, destination_engine, distinct_servers; '
                             "UNCHECKED: destination_address (DTS task %s's destination describes it by InstanceID rm-test0unit0check "
                             '(InstanceType RDS) without Ip/Port: set switchover_destination.instance_id to check it; '
                             'switchover_destination is not checked against it); task ' % places['rdsjob']), rds
