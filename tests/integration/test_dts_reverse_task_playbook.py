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


def forward_job(emulator, status='Suspending'):
    source, destination = endpoints()
    return emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status=status, phase='incremental', delay=0, durations=FAST,
                            source=source, destination=destination, db_object='{"shop":{"name":"shop","all":true}}')


def changes(emulator):
    return [request['action'] for request in emulator.requests if request['action'] in CHANGING]


# -- method reverse_api ---------------------------------------------------------------------------

def test_creates_and_starts_the_reverse_writer_from_the_checkpoint_then_changes_nothing(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, checkpoint=1700000000),
                reverse_task(dts_options, 'again', job_id=forward.job_id, checkpoint=1700000000)], diff=True)
    assert run.rc == 0, run
    first, second = run.task('create'), run.task('again')
    [reverse_id] = emulator.job(forward.job_id).reverse_job_ids
    reverse = emulator.job(reverse_id)
    assert (first['changed'], first['created'], first['started'], first['state']) == (True, True, True, 'running')
    assert (first['job_id'], first['instance_id'], first['forward_job_id']) == (reverse_id, reverse.instance_id, forward.job_id)
    assert first['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'running'}}
    assert first['job']['job_type'] == 'SYNC' and first['job']['status'] == 'synchronizing'
    assert first['job']['source']['instance_id'] == forward.destination['InstanceID']
    assert first['job']['destination']['instance_id'] == forward.source['InstanceID']
    assert reverse.writer_started is True and reverse.writer_checkpoint == '1700000000'
    assert [sample['wait'] for sample in first['samples']][-1] == 'running'
    assert 'prechecked' in [sample['wait'] for sample in first['samples']]
    assert (second['changed'], second['created'], second['started'], second['job_id'], second['state']) == (
        False, False, False, reverse_id, 'running')
    assert second['api_calls'] == ['DescribeDtsJobDetail', 'DescribeDtsJobs']
    assert changes(emulator) == ['CreateReverseDtsJob', 'StartReverseWriter']
    assert emulator.calls('StartReverseWriter')[0]['params']['CheckPoint'] == '1700000000'


def test_create_only_then_start(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False),
                reverse_task(dts_options, 'start', job_id=forward.job_id)])
    assert run.rc == 0, run
    created = run.task('create')
    assert (created['created'], created['started'], created['state'], created['job']['status']) == (True, False, 'paused', 'Suspending')
    started = run.task('start')
    assert (started['changed'], started['created'], started['started'], started['state']) == (True, False, True, 'running')
    assert changes(emulator) == ['CreateReverseDtsJob', 'StartReverseWriter']
    # Without a checkpoint the writer starts where DTS saved it.
    assert 'CheckPoint' not in emulator.calls('StartReverseWriter')[0]['params']


def test_check_mode_calls_nothing_that_changes(emulator, dts_options):
    forward = forward_job(emulator)
    check = play([reverse_task(dts_options, 'create', job_id=forward.job_id)], check=True, diff=True)
    result = check.task('create')
    assert (result['changed'], result['created'], result['started'], result['job_id'], result['state']) == (True, True, True, None, 'running')
    assert result['diff'] == {'before': {'state': 'absent'}, 'after': {'state': 'running'}}
    assert changes(emulator) == []

    play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False)])
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
    run = play([reverse_task(dts_options, job_id=forward.job_id)])
    assert run.rc == 0, run
    result = run.task('reverse')
    assert result['state'] == 'running'
    [reverse_id] = emulator.job(forward.job_id).reverse_job_ids
    assert result['job_id'] == reverse_id
    actions = [request['action'] for request in emulator.requests]
    create_at = actions.index('CreateReverseDtsJob')
    # The lookup follows the failed create at once.
    assert actions[create_at + 1] == 'DescribeDtsJobs'
    assert len(emulator.calls('CreateReverseDtsJob')) == creates


def test_the_forward_task_must_be_paused_first(emulator, dts_options):
    forward = forward_job(emulator, status='Migrating')
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id)])
    assert run.task('reverse')['msg'] == ('DTS task %s is Migrating: pause it first (dtsops.switchover.dts_task with state paused). DTS '
                                          'creates a reverse task only for a paused or finished task.' % forward.job_id)
    assert run.task('reverse')['error']['kind'] == 'state'
    assert changes(emulator) == []


def test_a_finished_forward_task_can_have_a_reverse(emulator, dts_options):
    forward = forward_job(emulator, status='Finished')
    run = play([reverse_task(dts_options, job_id=forward.job_id, start=False)])
    assert run.task('reverse')['created'] is True


def test_reverse_job_id_and_ambiguity(emulator, dts_options):
    forward = forward_job(emulator)
    stranger = forward_job(emulator, status='Migrating')
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
    run = play([reverse_task(dts_options, 'ambiguous', ignore_errors=True, job_id=forward.job_id),
                reverse_task(dts_options, 'chosen', job_id=forward.job_id, reverse_job_id=reverse_id, start=False)])
    assert run.task('ambiguous')['msg'] == ('Several unfinished tasks are reverses of %s: %s. Set reverse_job_id to the one to use.'
                                            % (forward.job_id, ', '.join(sorted([reverse_id, twin.job_id]))))
    assert (run.task('chosen')['changed'], run.task('chosen')['job_id']) == (False, reverse_id)


def test_a_failed_reverse_task_is_reported_not_restarted(emulator, dts_options):
    forward = forward_job(emulator)
    failed = emulator.add_job(name='rev', job_type='SYNC', status='Failed', phase='incremental', structure=False, full=False,
                              source=forward.destination, destination=forward.source, error_message='DTS-31009: Write to target failed.')
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id)])
    assert run.task('reverse')['msg'] == ('DTS reverse task %s is Failed: DTS-31009: Write to target failed. Release it (state: absent) '
                                          'and run again to create a new one.' % failed.job_id)


def test_absent_stops_and_releases(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id),
                reverse_task(dts_options, 'release', job_id=forward.job_id, state='absent'),
                reverse_task(dts_options, 'again', job_id=forward.job_id, state='absent')])
    assert run.rc == 0, run
    reverse_id = run.task('create')['job_id']
    # Named by its ID once it is gone (an abort run again after it released the task): done already.
    by_id = play([reverse_task(dts_options, 'by id', job_id=forward.job_id, reverse_job_id=reverse_id, state='absent')])
    assert by_id.rc == 0, by_id
    assert (by_id.task('by id')['changed'], by_id.task('by id')['released'], by_id.task('by id')['state']) == (False, False, 'absent')
    released = run.task('release')
    assert (released['changed'], released['released'], released['state'], released['job_id']) == (True, True, 'absent', reverse_id)
    assert (run.task('again')['changed'], run.task('again')['job_id']) == (False, None)
    assert emulator.job(reverse_id).released is True
    assert changes(emulator) == ['CreateReverseDtsJob', 'StartReverseWriter', 'StopDtsJob', 'DeleteDtsJob']
    assert emulator.job(forward.job_id).paused is True


def test_absent_by_reverse_job_id_once_the_forward_task_is_gone(emulator, dts_options):
    forward = forward_job(emulator)
    run = play([reverse_task(dts_options, 'create', job_id=forward.job_id, start=False),
                {'name': 'release forward', 'dtsops.switchover.dts_task': dict(dts_options, job_id=forward.job_id, state='absent')}])
    reverse_id = run.task('create')['job_id']
    run = play([reverse_task(dts_options, 'no id', ignore_errors=True, job_id=forward.job_id, state='absent'),
                reverse_task(dts_options, 'by id', job_id=forward.job_id, reverse_job_id=reverse_id, state='absent')])
    assert run.task('no id')['msg'] == ('DTS task %s not found in region cn-hangzhou. Set reverse_job_id to release its reverse task.'
                                        % forward.job_id)
    assert run.task('by id')['released'] is True
    assert emulator.job(reverse_id).released is True


# -- method configure -----------------------------------------------------------------------------

def configure_task(options, title='configure', **args):
    return reverse_task(options, title, method='configure', name=args.pop('name', None) or 'rollback-%s' % uuid.uuid4().hex[:8],
                        source_password=SOURCE_PASSWORD, destination_password=DESTINATION_PASSWORD, **args)


def test_configure_buys_configures_and_starts_an_incremental_only_task(emulator, dts_options):
    forward = forward_job(emulator)
    name = 'rollback-%s' % uuid.uuid4().hex[:8]
    run = play([configure_task(dts_options, 'configure', job_id=forward.job_id, name=name, checkpoint=1700000000),
                configure_task(dts_options, 'again', job_id=forward.job_id, name=name)], verbosity=3)
    assert run.rc == 0, run
    first, second = run.task('configure'), run.task('again')
    assert (first['changed'], first['created'], first['started'], first['state']) == (True, True, True, 'running')
    reverse = emulator.job(first['job_id'])
    assert (reverse.name, reverse.job_type, reverse.structure, reverse.full, reverse.incremental) == (name, 'MIGRATION', False, False, True)
    assert changes(emulator) == ['CreateDtsInstance', 'ConfigureDtsJob', 'StartDtsJob']
    buy = emulator.calls('CreateDtsInstance')[0]['params']
    assert (buy['Type'], buy['PayType'], buy['InstanceClass'], buy['SourceEndpointEngineName']) == ('MIGRATION', 'PostPaid', 'small', 'MySQL')
    configured = emulator.calls('ConfigureDtsJob')[0]['params']
    assert configured['DtsInstanceId'] == reverse.instance_id
    assert (configured['StructureInitialization'], configured['DataInitialization'], configured['DataSynchronization']) == (
        'False', 'False', 'True')
    assert (configured['SourceEndpointInstanceID'], configured['SourceEndpointUserName'], configured['SourceEndpointPassword']) == (
        forward.destination['InstanceID'], 'dts_writer', DESTINATION_PASSWORD)
    assert (configured['DestinationEndpointInstanceID'], configured['DestinationEndpointIP'], configured['DestinationEndpointPort'],
            configured['DestinationEndpointDataBaseName'], configured['DestinationEndpointPassword']) == (
        forward.source['InstanceID'], '10.0.0.5', '3306', 'shop', SOURCE_PASSWORD)
    assert json.loads(configured['DbList']) == {'shop': {'name': 'shop', 'all': True}}
    assert configured['Checkpoint'] == '1700000000'
    assert (second['changed'], second['job_id']) == (False, first['job_id'])
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


# -- bad input ------------------------------------------------------------------------------------

BAD_INPUT = [
    ({'name': 'x'}, 'name only apply to method: configure.'),
    ({'source_password': 'x', 'db_list': {'a': 1}}, 'source_password, db_list only apply to method: configure.'),
    ({'method': 'configure', 'source_password': 'x'},
     'method: configure needs destination_password: DTS does not return the database passwords of the forward task.'),
    ({'method': 'configure'}, 'method: configure needs source_password and destination_password: DTS does not return the database '
                              'passwords of the forward task.'),
    ({'checkpoint': 0}, 'checkpoint must be a UNIX time in seconds, got 0.'),
    ({'timeout': -1}, 'timeout must be 0 or more seconds, got -1.'),
    ({'method': 'twoway'}, 'value of method must be one of: reverse_api, configure, got: twoway'),
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
    forward = emulator.add_job(name='anon-%s' % uuid.uuid4().hex[:8], status='Suspending', phase='incremental', delay=0, durations=FAST,
                               source=anonymous, destination=anonymous, db_object='{"shop":{"name":"shop","all":true}}')
    emulator.add_fault(action='CreateReverseDtsJob', kind='drop_after', job_id=forward.job_id)
    name = 'anon-rollback-%s' % uuid.uuid4().hex[:8]
    run = play([reverse_task(dts_options, 'reverse_api', ignore_errors=True, job_id=forward.job_id),
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
    forward = forward_job(emulator)
    # A paused synchronization task from the new database to the old one, not made by CreateReverseDtsJob.
    other = emulator.add_job(name='manual', job_type='SYNC', status='Suspending', phase='incremental', structure=False, full=False,
                             source=forward.destination, destination=forward.source)
    run = play([reverse_task(dts_options, ignore_errors=True, job_id=forward.job_id)])
    result = run.task('reverse')
    assert result['msg'].startswith('DTS refused StartReverseWriter for task %s: The task %s is not a reverse task created by '
                                    'CreateReverseDtsJob (OperationDenied.NotReverseJob) (request id ' % (other.job_id, other.job_id))
    assert result['error']['kind'] == 'state'
    assert len(emulator.calls('StartReverseWriter')) == 1
