"""DescribeDtsJobs: job type default, filters, ordering and paging."""

import pytest

from alibabacloud_dts20200101 import models as dts_models

from emulator_sdk import REGION


@pytest.fixture
def fleet(emu, clock):
    """Five migration tasks created a second apart, and one sync task."""
    jobs = {}
    for name, status, source_id, dest_id in [
            ('orders-main', 'Migrating', 'rm-a', 'rm-x'),
            ('Orders-Archive', 'Suspending', 'rm-b', 'rm-x'),
            ('billing', 'Finished', 'rm-a', 'rm-y'),
            ('inventory', 'NotStarted', 'rm-c', 'rm-z'),
            ('users', 'Migrating', 'rm-d', 'rm-y')]:
        jobs[name] = emu.add_job(name=name, status=status, source={'InstanceID': source_id}, destination={'InstanceID': dest_id})
        clock.advance(1)
    jobs['sync'] = emu.add_job(name='orders-sync', job_type='SYNC', status='Synchronizing')
    return jobs


def names(client, **kwargs):
    body = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(**kwargs)).body
    assert body.success is True, body.to_map()
    return [item.dts_job_name for item in body.dts_job_list]


def test_job_type_defaults_to_migration(client, fleet):
    assert names(client) == ['orders-main', 'Orders-Archive', 'billing', 'inventory', 'users']
    assert names(client, job_type='SYNC') == ['orders-sync']
    assert names(client, job_type='SUBSCRIBE') == []


@pytest.mark.parametrize('search_type, value, expected', [
    ('name', 'orders', ['orders-main', 'Orders-Archive']),   # fuzzy, case-insensitive
    ('name', 'nothing', []),
    ('srcRds', 'rm-a', ['orders-main', 'billing']),
    ('rds', 'rm-y', ['billing', 'users']),
])
def test_type_and_params_filters(client, fleet, search_type, value, expected):
    assert names(client, type=search_type, params=value) == expected


def test_instance_filter(client, fleet):
    assert names(client, type='instance', params=fleet['billing'].instance_id) == ['billing']


def test_id_lists(client, fleet):
    job_ids = ','.join([fleet['users'].job_id, fleet['billing'].job_id])
    assert names(client, dts_job_id=job_ids) == ['billing', 'users']
    assert names(client, dts_instance_id=fleet['inventory'].instance_id) == ['inventory']


def test_status_filter_is_case_insensitive(client, fleet):
    assert names(client, status='Migrating') == ['orders-main', 'users']
    assert names(client, status='suspending') == ['Orders-Archive']
    assert names(client, job_type='SYNC', status='Synchronizing') == ['orders-sync']


def test_region_filter(client, fleet):
    assert len(names(client, region=REGION)) == 5
    assert names(client, region='eu-central-1') == []


def test_paging_and_order(client, fleet):
    first = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(page_size=2, page_number=1)).body
    assert (first.total_record_count, first.page_record_count, first.page_number) == (5, 2, 1)
    last = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(page_size=2, page_number=3)).body
    assert (last.total_record_count, last.page_record_count, last.page_number) == (5, 1, 3)
    assert [item.dts_job_name for item in last.dts_job_list] == ['users']
    beyond = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(page_size=2, page_number=9)).body
    assert beyond.total_record_count == 5 and beyond.dts_job_list == []
    assert names(client, order_direction='DESC', page_size=2) == ['users', 'inventory']


def test_default_page_size_is_20(emu, client):
    for index in range(25):
        emu.add_job(name='bulk-%02d' % index)
    body = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(type='name', params='bulk')).body
    assert (body.total_record_count, body.page_record_count) == (25, 20)


def test_sync_delay_is_listed_in_seconds(emu, client):
    job = emu.add_job(job_type='SYNC', status='Synchronizing', phase='incremental', delay=7000)
    item = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(job_type='SYNC', dts_job_id=job.job_id)).body.dts_job_list[0]
    assert item.delay == 7
    migration = emu.add_job(status='Migrating', phase='incremental', delay=7000)
    item = client.describe_dts_jobs(dts_models.DescribeDtsJobsRequest(dts_job_id=migration.job_id)).body.dts_job_list[0]
    assert item.delay == 7000
