"""dtsops.switchover.dts_task_info through ansible-playbook and the real SDK, against the emulator."""

import uuid

import pytest

from dts_emulator import Emulator
from fixtures_dts import DTS_ACCESS_KEY_ID, DTS_ACCESS_KEY_SECRET, DTS_REGION
from harness import run_playbook

MODULE = 'dtsops.switchover.dts_task_info'
SOURCE = {'instance_type': 'ECS', 'engine_name': 'MySQL', 'ip': '10.0.0.5', 'port': 3306, 'user_name': 'dts', 'database_name': 'shop'}
DESTINATION = {'instance_type': 'RDS', 'engine_name': 'MySQL', 'instance_id': 'rm-bp1new0001', 'port': 3306, 'user_name': 'dts'}


def play(tasks, **kwargs):
    return run_playbook([{'hosts': 'localhost', 'gather_facts': False, 'tasks': tasks}], **kwargs)


def info(options, title, ignore_errors=False, **args):
    entry = {'name': title, MODULE: dict(options, **args)}
    if ignore_errors:
        entry['ignore_errors'] = True
    return entry


@pytest.mark.parametrize('check_mode', [False, True], ids=['run', 'check_mode'])
def test_one_task_by_id(emulator, dts_options, check_mode):
    job = emulator.add_job(name='orders-%s' % uuid.uuid4().hex[:8], status='Migrating', phase='incremental', delay=4200,
                           source=SOURCE, destination=DESTINATION)
    run = play([info(dts_options, 'info', job_id=job.job_id), info(dts_options, 'unknown', job_id='nosuchjob00001')], check=check_mode)
    assert run.rc == 0, run
    result = run.task('info')
    assert result['changed'] is False and result['api_calls'] == ['DescribeDtsJobDetail']
    [view] = result['jobs']
    assert (view['job_id'], view['instance_id'], view['name'], view['job_type']) == (job.job_id, job.instance_id, job.name, 'MIGRATION')
    assert (view['status'], view['phase'], view['delay_ms'], view['delay_seconds']) == ('Migrating', 'incremental', 4200, 4.2)
    assert view['checkpoint'] == view['raw']['Checkpoint'] > 1600000000
    assert view['checkpoint_time'].endswith('Z')
    assert view['migration_mode'] == {'structure': True, 'full': True, 'incremental': True}
    assert (view['paused'], view['failed'], view['finished'], view['caught_up']) == (False, False, False, False)
    assert (view['source']['ip'], view['source']['port'], view['source']['database_name']) == ('10.0.0.5', '3306', 'shop')
    assert (view['destination']['instance_id'], view['destination']['instance_type']) == ('rm-bp1new0001', 'RDS')
    assert view['raw']['DtsJobId'] == job.job_id
    # An unknown id is an empty answer, not an error.
    assert run.task('unknown')['jobs'] == []


def test_list_filters_by_exact_name_status_and_type(emulator, dts_options):
    name = 'orders-%s' % uuid.uuid4().hex[:8]
    wanted = emulator.add_job(name=name, status='Migrating', phase='incremental', delay=0)
    emulator.add_job(name=name + '_archive', status='Migrating', phase='incremental', delay=0)
    paused = emulator.add_job(name=name, status='Suspending', phase='incremental', delay=0)
    sync = emulator.add_job(name=name, job_type='SYNC', status='Synchronizing', phase='incremental', delay=7000)
    run = play([info(dts_options, 'by name', name=name),
                info(dts_options, 'by name and status', name=name, status='suspending'),
                info(dts_options, 'sync', name=name, job_type='SYNC')])
    assert run.rc == 0, run
    assert sorted(view['job_id'] for view in run.task('by name')['jobs']) == sorted([wanted.job_id, paused.job_id])
    assert [view['job_id'] for view in run.task('by name and status')['jobs']] == [paused.job_id]
    [sync_view] = run.task('sync')['jobs']
    assert (sync_view['job_id'], sync_view['job_type'], sync_view['status']) == (sync.job_id, 'SYNC', 'Synchronizing')
    # DescribeDtsJobs gives sync delays in seconds; the view is milliseconds like everywhere else.
    assert (sync_view['raw']['Delay'], sync_view['delay_ms']) == (7, 7000)
    assert run.task('by name')['api_calls'] == ['DescribeDtsJobs']
    names = [request['params'].get('Params') for request in emulator.calls('DescribeDtsJobs')]
    assert names == [name, name, name]


@pytest.fixture
def crowded_emulator():
    """An emulator of its own with more tasks than one page holds."""
    emu = Emulator(accounts={DTS_ACCESS_KEY_ID: DTS_ACCESS_KEY_SECRET}, region=DTS_REGION)
    emu.start()
    try:
        for number in range(130):
            emu.add_job(name='bulk-%03d' % number, status='Migrating', phase='incremental', delay=0)
        yield emu
    finally:
        emu.stop()


def test_list_reads_every_page(crowded_emulator, dts_options):
    options = dict(dts_options, endpoint=crowded_emulator.endpoint)
    run = play([info(options, 'all')])
    assert run.rc == 0, run
    jobs = run.task('all')['jobs']
    assert sorted(view['name'] for view in jobs) == ['bulk-%03d' % number for number in range(130)]
    pages = [request['params']['PageNumber'] for request in crowded_emulator.calls('DescribeDtsJobs')]
    assert pages == ['1', '2']


@pytest.fixture
def gateway_style_emulator():
    """An emulator answering unknown ids like the API gateway (HTTP 403 Forbidden.InstanceNotFound)."""
    emu = Emulator(accounts={DTS_ACCESS_KEY_ID: DTS_ACCESS_KEY_SECRET}, region=DTS_REGION, not_found_style='gateway')
    emu.start()
    try:
        yield emu
    finally:
        emu.stop()


def test_unknown_ids_in_the_gateway_style(gateway_style_emulator, dts_options):
    options = dict(dts_options, endpoint=gateway_style_emulator.endpoint)
    run = play([info(options, 'info', job_id='nosuchjob00001'),
                {'name': 'task', 'dtsops.switchover.dts_task': dict(options, job_id='nosuchjob00001', state='paused'), 'ignore_errors': True}])
    assert run.task('info')['jobs'] == []
    assert run.task('task')['msg'] == 'DTS task nosuchjob00001 not found in region cn-hangzhou.'
    assert [request['code'] for request in gateway_style_emulator.requests] == ['Forbidden.InstanceNotFound'] * 2


@pytest.mark.parametrize('args, message', [
    ({'job_id': 'x', 'name': 'orders'}, 'parameters are mutually exclusive: job_id|name'),
    ({'job_id': 'x', 'status': 'Migrating'}, 'parameters are mutually exclusive: job_id|status'),
    ({'job_type': 'CHECK'}, 'value of job_type must be one of: MIGRATION, SYNC, SUBSCRIBE, got: CHECK'),
    ({'job_id': ''}, 'job_id must not be empty.'),
])
def test_bad_input(dts_options, args, message):
    run = play([info(dts_options, 'info', ignore_errors=True, **args)])
    assert run.status('info') == 'failed'
    assert run.task('info')['msg'] == message
