"""dtsops.switchover.dts_reverse_task through ansible-playbook and the real SDK, against the emulator."""

import json
import uuid

import pytest

from harness import run_playbook

MODULE = 'dtsops.switchover.dts_reverse_task'
CHANGING = {'CreateReverseDtsJob', 'StartReverseWriter', 'CreateDtsInstance', 'ConfigureDtsJob', 'StartDtsJob', 'SuspendDtsJob',
            'StopDtsJob', 'DeleteDtsJob'}
FAST = {'precheck': 0.3, 'reverse_precheck': 0.3, 'structure': 0.3, 'full': 0.3}
SOURCE_PASSWORD = 'source-db-password-8c1f'
DESTINATION_PASSWORD = 'destination-db-password-2e7a'


def play(tasks, **kwargs):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def reverse_task(options, title='reverse', ignore_errors=False, **args):
    entry = {'name': title, MODULE: dict(options, poll_interval=0.2, timeout=60, **args)}
    if ignore_errors:
        entry['ignore_errors'] = True
    return entry


def endpoints():
    """Endpoints of one migration, unique to the test: lookups by endpoint see only its tasks."""
    tag = uuid.uuid4().hex[:10]
    source = {'instance_type': 'ECS', 'engine_name': 'MySQL', 'instance_id': 'i-src%s' % tag, 'ip': '10.0.0.5', 'port': 3306,
              'user_name': 'dts_reader', 'database_name': 'shop'}
    destination = {'instance_type': 'RDS', 'engine_name': 'MySQL', 'instance_id': 'rm-dst%s' % tag, 'port': 3306,
                   'user_name': 'dts_writer', 'database_name': 'shop'}
    return source, destination


def forward_job(emulator, status='Migrating', engine='MySQL'):
    """A forward task in incremental migration (running by default, as CreateReverseDtsJob wants it)."""
    source, destination = endpoints()
    source['engine_name'] = destination['engine_name'] = engine
    return emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status=status, phase='incremental', delay=0, durations=FAST,
                            source=source, destination=destination, db_object='{"shop":{"name":"shop","all":true}}')


def pause(options, forward, title='pause'):
    return {'name': title, 'dtsops.switchover.dts_task': dict(options, job_id=forward.job_id, state='paused', poll_interval=0.2)}


def changes(emulator):
    return [request['action'] for request in emulator.requests if request['action'] in CHANGING]


# -- method reverse_api: the vendor's order ----------------------------------------------------------

def test_arms_while_the_forward_task_runs_and_starts_the_writer_after_the_pause(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'arm', job_id=forward.job_id, start=False),
                reverse_task(dts_options, 'arm again', job_id=forward.job_id, start=False),
                pause(dts_options, forward),
                reverse_task(dts_options, 'start', job_id=forward.job_id, checkpoint=1700000000),
                reverse_task(dts_options, 'start again', job_id=forward.job_id)], diff=True)
    assert run.rc == 0, run
    armed, again, started, done = run.task('arm'), run.task('arm again'), run.task('start'), run.task('start again')
    [reverse_id] = emulator.job(forward.job_id).reverse_job_ids
    reverse = emulator.job(reverse_id)
    assert (armed['changed'], armed['created'], armed['started'], armed['state'], armed['method']) == (True, True, False, 'paused', 'reverse_api')
    assert armed['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'paused'}}
    assert 'prechecked' in [sample['wait'] for sample in armed['samples']]
    assert (armed['job_id'], armed['instance_id'], armed['forward_job_id']) == (reverse_id, reverse.instance_id, forward.job_id)
    assert armed['job']['job_type'] == 'SYNC'
    assert armed['job']['source']['instance_id'] == forward.destination['InstanceID']
    assert armed['job']['destination']['instance_id'] == forward.source['InstanceID']
    assert (again['changed'], again['created'], again['job_id'], again['state']) == (False, False, reverse_id, 'paused')
    assert (started['changed'], started['created'], started['started'], started['state']) == (True, False, True, 'running')
    assert started['job']['status'] == 'synchronizing'
    assert [sample['wait'] for sample in started['samples']][-1] == 'running'
    assert (done['changed'], done['started'], done['state']) == (False, False, 'running')
    assert reverse.writer_started is True
    assert emulator.calls('StartReverseWriter')[0]['params']['CheckPoint'] == '1700000000'
    assert changes(emulator) == ['CreateReverseDtsJob', 'SuspendDtsJob', 'StartReverseWriter']


def test_the_writer_starts_where_dts_saved_it_without_a_checkpoint(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'arm', job_id=forward.job_id, start=False, wait=False),
                pause(dts_options, forward),
                reverse_task(dts_options, 'start', job_id=forward.job_id)])
    assert run.rc == 0, run
    # Without wait the module returns as soon as DTS gave the ID; the start waits for the precheck.
    assert run.task('arm')['state'] in ('not_started', 'starting', 'paused') and run.task('arm')['job_id']
    assert run.task('start')['state'] == 'running'
    assert 'CheckPoint' not in emulator.calls('StartReverseWriter')[0]['params']


def test_check_mode_calls_nothing_that_changes(emulator, dts_options):
    forward = forward_job(emulator)
    check = play([reverse_task(dts_options, 'arm', job_id=forward.job_id, start=False)], check=True, diff=True)
    result = check.task('arm')
    assert (result['changed'], result['created'], result['started'], result['job_id'], result['state']) == (True, True, False, None, 'paused')
    assert result['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'paused'}}
    assert changes(emulator) == []

    play([reverse_task(dts_options, 'arm', job_id=forward.job_id, start=False), pause(dts_options, forward)])
    emulator.reset_requests()
    check = play([reverse_task(dts_options, 'start', job_id=forward.job_id),
                  reverse_task(dts_options, 'release', job_id=forward.job_id, state='absent')], check=True)
    assert (check.task('start')['changed'], check.task('start')['created'], check.task('start')['started']) == (True, False, True)
    assert (check.task('release')['changed'], check.task('release')['released'], check.task('release')['state']) == (True, True, 'absent')
    assert changes(emulator) == []
    assert emulator.job(emulator.job(forward.job_id).reverse_job_ids[0]).writer_started is False


@pytest.mark.parametrize('kind, creates', [('drop_after', 1), ('drop', 2), ('server_error', 2)])
def test_a_create_whose_outcome_is_unknown_is_looked_up_not_repeated_blindly(emulator, dts_options, kind, creates):
    forward = forward_job(emulator)
    emulator.add_fault(action='CreateReverseDtsJob', kind=kind, job_id=forward.job_id)
    run = play([reverse_task(dts_options, job_id=forward.job_id, start=False)])
    assert run.rc == 0, run
    result = run.task('reverse')
    assert result['state'] == 'paused'
    [reverse_id] = emulator.job(forward.job_id).reverse_job_ids
    assert result['job_id'] == reverse_id
    actions = [request['action'] for request in emulator.requests]
    create_at = actions.index('CreateReverseDtsJob')
    # The lookup follows the failed create at once.
    assert actions[create_at + 1] == 'DescribeDtsJobs'
    assert len(emulator.calls('CreateReverseDtsJob')) == creates


@pytest.mark.parametrize('status', ['Suspending', 'Finished'])
def test_a_reverse_instance_is_created_only_on_a_running_forward_task(emulator, dts_options, status):
    forward = forward_job(emulator, status=status)
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id, method='reverse_api', start=False)])
    assert run.task('reverse')['msg'] == (
        'DTS task %s is %s: CreateReverseDtsJob needs the forward task running in incremental migration (create the reverse task first, '
        'then pause the forward task, then start the writer). Use method configure to make a reverse task of a task in this state.'
        % (forward.job_id, status))
    assert run.task('reverse')['error']['kind'] == 'state'
    assert changes(emulator) == []


def test_the_writer_never_starts_while_the_forward_task_runs(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'arm', job_id=forward.job_id, start=False),
                reverse_task(dts_options, 'start', ignore_errors=True, job_id=forward.job_id)])
    reverse_id = run.task('arm')['job_id']
    assert run.task('start')['msg'] == (
        'DTS task %s is Migrating: pause it (dtsops.switchover.dts_task with state paused) before starting its reverse task %s. '
        'Both running at once would replicate in both directions.' % (forward.job_id, reverse_id))
    assert changes(emulator) == ['CreateReverseDtsJob']


def test_start_without_an_armed_reverse_instance_says_what_to_do(emulator, dts_options):
    forward = forward_job(emulator, status='Suspending')
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id, method='reverse_api')])
    assert run.task('reverse')['msg'] == (
        'DTS task %s has no reverse task yet. Arm one first with start: false while the forward task runs in incremental migration, '
        'then pause the forward task and run again with start: true.' % forward.job_id)
    assert changes(emulator) == []


def test_reverse_job_id_and_ambiguity(emulator, dts_options):
    forward = forward_job(emulator)
    stranger = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False),
                reverse_task(dts_options, 'unknown', ignore_errors=True, job_id=forward.job_id, reverse_job_id='nosuchjob00001'),
                reverse_task(dts_options, 'stranger', ignore_errors=True, job_id=forward.job_id, reverse_job_id=stranger.job_id)])
    reverse_id = run.task('create')['job_id']
    assert run.task('unknown')['msg'] == 'Reverse task nosuchjob00001 not found in region cn-hangzhou.'
    assert run.task('stranger')['msg'] == ("DTS task %s is not a reverse of %s: its source and destination are not %s's destination and "
                                           "source." % (stranger.job_id, forward.job_id, forward.job_id))
    # A second task that looks like a reverse: the module does not guess.
    twin = emulator.add_job(name='twin', job_type='SYNC', status='Synchronizing', phase='incremental', structure=False, full=False,
                            source=forward.destination, destination=forward.source)
    run = play([reverse_task(dts_options, 'ambiguous', ignore_errors=True, job_id=forward.job_id, start=False),
                reverse_task(dts_options, 'chosen', job_id=forward.job_id, reverse_job_id=reverse_id, start=False)])
    assert run.task('ambiguous')['msg'] == ('Several unfinished tasks are reverses of %s: %s. Set reverse_job_id to the one to use.'
                                            % (forward.job_id, ', '.join(sorted([reverse_id, twin.job_id]))))
    assert (run.task('chosen')['changed'], run.task('chosen')['job_id']) == (False, reverse_id)


def test_a_failed_reverse_task_is_reported_not_restarted(emulator, dts_options):
    forward = forward_job(emulator)
    failed = emulator.add_job(name='rev', job_type='SYNC', status='Failed', phase='incremental', structure=False, full=False,
                              source=forward.destination, destination=forward.source, error_message='DTS-31009: Write to target failed.')
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id, start=False)])
    assert run.task('reverse')['msg'] == ('DTS reverse task %s is Failed: DTS-31009: Write to target failed. Release it (state: absent) '
                                          'and run again to create a new one.' % failed.job_id)


def test_absent_stops_and_releases(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False),
                pause(dts_options, forward),
                reverse_task(dts_options, 'start', job_id=forward.job_id),
                reverse_task(dts_options, 'release', job_id=forward.job_id, state='absent'),
                reverse_task(dts_options, 'again', job_id=forward.job_id, state='absent')])
    assert run.rc == 0, run
    reverse_id = run.task('create')['job_id']
    # Named by its ID once it is gone (an abort run again after it released the task): done already,
    # whether DTS forgets the task or still describes it as Finished.
    by_id = play([reverse_task(dts_options, 'by id', job_id=forward.job_id, reverse_job_id=reverse_id, state='absent')])
    assert by_id.rc == 0, by_id
    assert by_id.task('by id')['state'] == 'absent'
    released = run.task('release')
    assert (released['changed'], released['released'], released['state'], released['job_id']) == (True, True, 'absent', reverse_id)
    assert (run.task('again')['changed'], run.task('again')['job_id']) == (False, None)
    assert emulator.job(reverse_id).released is True
    assert changes(emulator)[:5] == ['CreateReverseDtsJob', 'SuspendDtsJob', 'StartReverseWriter', 'StopDtsJob', 'DeleteDtsJob']
    assert emulator.job(forward.job_id).paused is True


@pytest.mark.parametrize('released_status', ['not_found', 'finished'])
def test_absent_by_reverse_job_id_once_the_forward_task_is_gone(emulator, dts_options, released_status):
    # DTS may forget a released task or still describe it as Finished (reference dts-reverse-flow.md).
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False),
                {'name': 'release forward', 'dtsops.switchover.dts_task': dict(dts_options, job_id=forward.job_id, state='absent')}])
    reverse_id = run.task('create')['job_id']
    saved, emulator.api.released_status = emulator.api.released_status, released_status
    try:
        run = play([reverse_task(dts_options, 'no id', ignore_errors=True, job_id=forward.job_id, state='absent'),
                    reverse_task(dts_options, 'by id', job_id=forward.job_id, reverse_job_id=reverse_id, state='absent')])
    finally:
        emulator.api.released_status = saved
    if released_status == 'not_found':
        assert run.task('no id')['msg'] == ('DTS task %s not found in region cn-hangzhou. Set reverse_job_id to release its reverse task.'
                                            % forward.job_id)
        assert run.task('by id')['released'] is True
    else:
        # The forward task is still described: its reverse task is found by its endpoints.
        assert (run.task('no id')['released'], run.task('no id')['job_id']) == (True, reverse_id)
        assert run.task('by id')['state'] == 'absent'
    assert emulator.job(reverse_id).released is True


# -- method configure, and auto -------------------------------------------------------------------

def configure_task(options, title='configure', method='configure', **args):
    return reverse_task(options, title, method=method, name=args.pop('name', None) or 'rollback-%s' % uuid.uuid4().hex[:8],
                        source_password=SOURCE_PASSWORD, destination_password=DESTINATION_PASSWORD, **args)


def test_configure_buys_and_configures_before_the_pause_and_starts_after_it(emulator, dts_options):
    forward = forward_job(emulator)
    name = 'rollback-%s' % uuid.uuid4().hex[:8]
    run = play([configure_task(dts_options, 'configure', job_id=forward.job_id, name=name, checkpoint=1700000000, start=False),
                configure_task(dts_options, 'early start', job_id=forward.job_id, name=name, ignore_errors=True),
                pause(dts_options, forward),
                configure_task(dts_options, 'start', job_id=forward.job_id, name=name)], verbosity=3)
    first, early, started = run.task('configure'), run.task('early start'), run.task('start')
    assert (first['changed'], first['created'], first['started'], first['state']) == (True, True, False, 'not_started')
    reverse = emulator.job(first['job_id'])
    assert (reverse.name, reverse.job_type, reverse.structure, reverse.full, reverse.incremental) == (name, 'MIGRATION', False, False, True)
    assert early['msg'].startswith('DTS task %s is ' % forward.job_id) and 'pause it' in early['msg']
    assert (started['changed'], started['created'], started['started'], started['state'], started['job_id']) == (
        True, False, True, 'running', first['job_id'])
    assert changes(emulator) == ['CreateDtsInstance', 'ConfigureDtsJob', 'SuspendDtsJob', 'StartDtsJob']
    buy = emulator.calls('CreateDtsInstance')[0]['params']
    assert (buy['Type'], buy['PayType'], buy['InstanceClass'], buy['SourceEndpointEngineName']) == ('MIGRATION', 'PostPaid', 'small', 'MySQL')
    configured = emulator.calls('ConfigureDtsJob')[0]['params']
    assert configured['DtsInstanceId'] == reverse.instance_id
    # Nothing starts at configuration, not even the precheck: StartDtsJob does, after the pause.
    assert json.loads(configured['Reserve']) == {'autoStartModulesAfterConfig': 'none'}
    assert (configured['StructureInitialization'], configured['DataInitialization'], configured['DataSynchronization']) == (
        'False', 'False', 'True')
    assert (configured['SourceEndpointInstanceID'], configured['SourceEndpointUserName'], configured['SourceEndpointPassword']) == (
        forward.destination['InstanceID'], 'dts_writer', DESTINATION_PASSWORD)
    assert (configured['DestinationEndpointInstanceID'], configured['DestinationEndpointIP'], configured['DestinationEndpointPort'],
            configured['DestinationEndpointDataBaseName'], configured['DestinationEndpointPassword']) == (
        forward.source['InstanceID'], '10.0.0.5', '3306', 'shop', SOURCE_PASSWORD)
    assert json.loads(configured['DbList']) == {'shop': {'name': 'shop', 'all': True}}
    assert configured['Checkpoint'] == '1700000000'
    text = run.stdout + run.stderr + json.dumps(run.results)
    assert SOURCE_PASSWORD not in text and DESTINATION_PASSWORD not in text


def test_configure_with_other_accounts_and_objects(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([configure_task(dts_options, job_id=forward.job_id, source_user='rollback_writer', destination_user='rollback_reader',
                               db_list={'shop': {'name': 'shop', 'all': False, 'Table': {'orders': {'name': 'orders', 'all': True}}}},
                               instance_class='medium', start=False)])
    assert run.rc == 0, run
    assert run.task('configure')['state'] == 'not_started'
    configured = emulator.calls('ConfigureDtsJob')[0]['params']
    assert (configured['SourceEndpointUserName'], configured['DestinationEndpointUserName']) == ('rollback_reader', 'rollback_writer')
    assert json.loads(configured['DbList'])['shop']['Table'] == {'orders': {'name': 'orders', 'all': True}}
    assert emulator.calls('CreateDtsInstance')[0]['params']['InstanceClass'] == 'medium'
    assert changes(emulator) == ['CreateDtsInstance', 'ConfigureDtsJob']


@pytest.mark.parametrize('action', ['CreateDtsInstance', 'ConfigureDtsJob'])
def test_configure_steps_whose_outcome_is_unknown_are_not_repeated(emulator, dts_options, action):
    forward = forward_job(emulator)
    instances_before = len(emulator.jobs())
    emulator.add_fault(action=action, kind='drop_after')
    run = play([configure_task(dts_options, job_id=forward.job_id, start=False)])
    assert run.rc == 0, run
    assert len(emulator.calls(action)) == 1
    # One instance bought, and it is the configured reverse task.
    assert len(emulator.jobs()) == instances_before + 1
    assert emulator.job(run.task('configure')['job_id']).name == run.task('configure')['job']['name']


@pytest.mark.parametrize('engine', ['PostgreSQL', 'Redis', 'Oracle'])
def test_auto_configures_a_task_for_engines_without_reverse_instances(emulator, dts_options, engine):
    forward = forward_job(emulator, engine=engine)
    run = play([reverse_task(dts_options, 'no passwords', ignore_errors=True, job_id=forward.job_id, start=False),
                configure_task(dts_options, 'auto', method='auto', job_id=forward.job_id, start=False)])
    assert run.task('no passwords')['msg'] == (
        'method auto picks configure: DTS creates reverse instances (CreateReverseDtsJob) only for MySQL, SQL Server and MongoDB, and task '
        '%s migrates %s to %s. A configured reverse task needs source_password and destination_password (DTS does not return the '
        'passwords of the forward task): set them.' % (forward.job_id, engine, engine))
    auto = run.task('auto')
    assert (auto['created'], auto['method'], auto['state'], auto['job']['job_type']) == (True, 'configure', 'not_started', 'MIGRATION')
    assert changes(emulator) == ['CreateDtsInstance', 'ConfigureDtsJob']


def test_explicit_reverse_api_for_postgresql_is_refused_before_anything_changes(emulator, dts_options):
    forward = forward_job(emulator, engine='PostgreSQL')
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id, method='reverse_api', start=False)])
    assert run.task('reverse')['msg'] == (
        'method reverse_api: DTS creates reverse instances (CreateReverseDtsJob) only for MySQL, SQL Server and MongoDB, and task %s '
        'migrates PostgreSQL to PostgreSQL. Use method configure (or auto), with source_password and destination_password.' % forward.job_id)
    assert changes(emulator) == []


def test_auto_falls_back_to_configure_when_dts_refuses_the_reverse_instance(emulator, dts_options):
    forward = forward_job(emulator)
    refusal = {'err_code': 'OperationDenied', 'err_message': 'The job type does not support reverse job.', 'http_status_code': 200}
    emulator.add_fault(action='CreateReverseDtsJob', kind='business_error', job_id=forward.job_id, **refusal)
    run = play([reverse_task(dts_options, 'no passwords', ignore_errors=True, job_id=forward.job_id, start=False)])
    message = run.task('no passwords')['msg']
    assert 'The job type does not support reverse job' in message
    assert message.endswith('With method auto, a refused CreateReverseDtsJob falls back to method configure, which needs source_password '
                            'and destination_password (switchover_reverse.source_password and destination_password in the role): set them.')
    emulator.add_fault(action='CreateReverseDtsJob', kind='business_error', job_id=forward.job_id, **refusal)
    run = play([configure_task(dts_options, 'auto', method='auto', job_id=forward.job_id, start=False)])
    auto = run.task('auto')
    assert (auto['created'], auto['method'], auto['state']) == (True, 'configure', 'not_started')
    assert 'The job type does not support reverse job' in auto['fallback']
    assert changes(emulator) == ['CreateReverseDtsJob', 'CreateReverseDtsJob', 'CreateDtsInstance', 'ConfigureDtsJob']


# -- bad input ------------------------------------------------------------------------------------

BAD_INPUT = [
    ({'method': 'reverse_api', 'name': 'x'}, 'name only apply to method: configure (or auto, which may fall back to it).'),
    ({'method': 'reverse_api', 'source_password': 'x', 'db_list': {'a': 1}},
     'db_list, source_password only apply to method: configure (or auto, which may fall back to it).'),
    ({'method': 'configure', 'source_password': 'x'},
     'method: configure needs destination_password: DTS does not return the database passwords of the forward task.'),
    ({'method': 'configure'}, 'method: configure needs source_password and destination_password: DTS does not return the database '
                              'passwords of the forward task.'),
    ({'checkpoint': 0}, 'checkpoint must be a UNIX time in seconds, got 0.'),
    ({'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ({'method': 'twoway'}, 'value of method must be one of: auto, reverse_api, configure, got: twoway'),
    ({'job_id': 'nosuchjob00001'}, 'DTS task nosuchjob00001 not found in region cn-hangzhou.'),
]


def test_bad_input_gets_one_clear_message_and_changes_nothing(emulator, dts_options):
    forward = forward_job(emulator)
    tasks = [{'name': 'case%d' % index, MODULE: dict(dts_options, **dict({'job_id': forward.job_id}, **args)), 'ignore_errors': True}
             for index, (args, dummy) in enumerate(BAD_INPUT)]
    run = play(tasks)
    for index, (args, message) in enumerate(BAD_INPUT):
        assert run.status('case%d' % index) == 'failed', args
        assert run.task('case%d' % index)['msg'] == message, args
    assert changes(emulator) == []


def test_endpoints_without_identity(emulator, dts_options):
    """Endpoints with neither instance ID nor address: the reverse_api method warns and never re-creates
    after an unknown outcome; the configure method finds its task by name."""
    anonymous = {'instance_type': 'CEN', 'engine_name': 'MySQL'}
    forward = emulator.add_job(name='anon-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=0, durations=FAST,
                               source=anonymous, destination=anonymous, db_object='{"shop":{"name":"shop","all":true}}')
    emulator.add_fault(action='CreateReverseDtsJob', kind='drop_after', job_id=forward.job_id)
    name = 'anon-rollback-%s' % uuid.uuid4().hex[:8]
    run = play([reverse_task(dts_options, 'reverse_api', ignore_errors=True, job_id=forward.job_id, method='reverse_api', start=False),
                configure_task(dts_options, 'configure', job_id=forward.job_id, name=name, start=False),
                configure_task(dts_options, 'configure again', job_id=forward.job_id, name=name, start=False)])
    result = run.task('reverse_api')
    assert result['msg'] == ('The DTS call CreateReverseDtsJob may or may not have taken effect: the connection was closed before the answer '
                             'arrived. The reverse task of %s cannot be recognised by its endpoints (they have neither instance IDs nor '
                             'addresses): check for it before running again, and pass reverse_job_id.' % forward.job_id)
    assert result['warnings'] == ['The endpoints of DTS task %s have neither instance IDs nor addresses, so an existing reverse task cannot '
                                  'be found by them: pass reverse_job_id on later runs.' % forward.job_id]
    assert len(emulator.calls('CreateReverseDtsJob')) == 1
    assert run.task('configure')['created'] is True
    assert (run.task('configure again')['changed'], run.task('configure again')['job_id']) == (False, run.task('configure')['job_id'])


def test_dts_refusing_a_request_for_the_task_state_is_reported(emulator, dts_options):
    forward = forward_job(emulator, status='Suspending')
    # A paused synchronization task from the new database to the old one, not made by CreateReverseDtsJob.
    other = emulator.add_job(name='manual', job_type='SYNC', status='Suspending', phase='incremental', structure=False, full=False,
                             source=forward.destination, destination=forward.source)
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id)])
    result = run.task('reverse')
    assert result['msg'].startswith('DTS refused StartReverseWriter for task %s: The task %s is not a reverse task created by '
                                    'CreateReverseDtsJob (OperationDenied.NotReverseJob) (request id ' % (other.job_id, other.job_id))
    assert result['error']['kind'] == 'state'
    assert len(emulator.calls('StartReverseWriter')) == 1
