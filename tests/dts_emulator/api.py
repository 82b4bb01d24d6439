"""The DTS 2020-01-01 actions: parameters in, documented response bodies out.

Field names and JSON types follow reference dts-api.md sections 1.1-1.8 (and the SDK 5.11.7
models): ``Success`` is a bool in the Describe*/Suspend/Start/Stop/Delete actions and the string
``"true"`` in the create/configure actions; ``HttpStatusCode`` is an int except in
CreateReverseDtsJob and ConfigureDtsJob; DescribeDtsJobDetail spells ``DtsInstanceID``.
"""

import json
import uuid

from .jobs import JobError, JobNotFound, iso_time

VERSION = '2020-01-01'
HOST_ID = 'dts.aliyuncs.com'

# Action -> (Success as string?, HttpStatusCode: 'int' | 'str' | None (not in the body)).
ENVELOPES = {
    'DescribeDtsJobDetail': (False, 'int'),
    'DescribeDtsJobs': (False, 'int'),
    'SuspendDtsJob': (False, 'int'),
    'StartDtsJob': (False, 'int'),
    'StopDtsJob': (False, 'int'),
    'DeleteDtsJob': (False, 'int'),
    'CreateReverseDtsJob': (True, 'str'),
    'StartReverseWriter': (True, None),
    'CreateDtsInstance': (True, None),
    'ConfigureDtsJob': (True, 'str'),
}
ACTIONS = tuple(ENVELOPES)

INVALID_VALUE = 'The Value of Input Parameter %s is not valid.'


def request_id():
    return str(uuid.uuid4()).upper()


class Response(object):
    """What to send: an HTTP status, a JSON body (dict) or raw bytes, and extra headers."""

    def __init__(self, status, body, headers=None, code=None, job_id=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.code = code        # error code for the request log (gateway Code or business ErrCode)
        self.job_id = job_id

    def payload(self):
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body, separators=(',', ':')).encode('utf-8')


def gateway_error(status, code, message, headers=None):
    """An error answered by the API gateway: HTTP 4xx/5xx and the gateway's JSON."""
    return Response(status, {
        'RequestId': request_id(), 'HostId': HOST_ID, 'Code': code, 'Message': message,
        'Recommend': 'https://error-center.aliyun.com/status/search?Keyword=%s&source=PopGw' % code,
    }, headers=headers, code=code)


def envelope(action, success=True):
    as_string, status_type = ENVELOPES[action]
    body = {'RequestId': request_id(), 'Success': ('true' if success else 'false') if as_string else success}
    if status_type:
        code = 200 if success else 403
        body['HttpStatusCode'] = str(code) if status_type == 'str' else code
    return body


def business_error(action, code, message, dynamic_message=None, http_status_code=403, job_id=None):
    """HTTP 200 with Success false: the SDK raises nothing, the caller must check Success."""
    body = envelope(action, success=False)
    if 'HttpStatusCode' in body:
        body['HttpStatusCode'] = str(http_status_code) if isinstance(body['HttpStatusCode'], str) else int(http_status_code)
    as_string = ENVELOPES[action][0]
    if dynamic_message is not None and as_string and '%s' in message:
        # These actions' models have no DynamicMessage: spell the parameter out.
        message = message % dynamic_message
    body.update({'ErrCode': code, 'ErrMessage': message})
    if dynamic_message is not None:
        body.update({'DynamicMessage': dynamic_message, 'DynamicCode': str(http_status_code)})
    return Response(200, body, code=code, job_id=job_id)


class BadParameter(Exception):
    def __init__(self, name, message=INVALID_VALUE):
        super(BadParameter, self).__init__(name)
        self.name = name
        self.message = message


def boolean(params, name, default=None):
    """Booleans arrive as True/False (SDK) or true/false (other clients)."""
    value = params.get(name)
    if value is None or value == '':
        if default is None:
            raise BadParameter(name)
        return default
    lowered = str(value).lower()
    if lowered not in ('true', 'false'):
        raise BadParameter(name)
    return lowered == 'true'


def integer(params, name, default, minimum=1, maximum=None):
    value = params.get(name)
    if value is None or value == '':
        return default
    try:
        number = int(value)
    except ValueError:
        raise BadParameter(name) from None
    if number < minimum or (maximum is not None and number > maximum):
        raise BadParameter(name)
    return number


RELEASED_STATUSES = ('finished', 'not_found')
# Actions after which a task's next ``stale_reads`` reads still show it as it was before.
STATE_CHANGING = ('SuspendDtsJob', 'StartDtsJob', 'StopDtsJob', 'DeleteDtsJob', 'StartReverseWriter', 'ConfigureDtsJob', 'CreateDtsInstance')


class Api(object):
    """``released_status``: ``'finished'`` (default) keeps a released task visible to DescribeDtsJobDetail and
    DescribeDtsJobs as ``Finished`` (the Terraform provider treats Finished as deleted, reference
    dts-reverse-flow.md "Status strings"; how long DTS keeps it visible is not documented: here, for good), and a
    second DeleteDtsJob succeeds; ``'not_found'`` answers every call about it "not found". ``stale_reads``: after an
    action that changes a task, its next N reads answer as before the action (terraform-provider-alicloud PR 10490
    saw a reset task still report PrecheckFailed; N is our knob, the docs give no figure)."""

    def __init__(self, model, not_found_style='business', released_status='finished', stale_reads=0):
        if not_found_style not in ('business', 'gateway'):
            raise ValueError("not_found_style must be 'business' or 'gateway', got %r" % (not_found_style,))
        if released_status not in RELEASED_STATUSES:
            raise ValueError('released_status must be one of %s, got %r' % (', '.join(RELEASED_STATUSES), released_status))
        self.model = model
        self.not_found_style = not_found_style
        self.released_status = released_status
        self.stale_reads = int(stale_reads or 0)
        if self.stale_reads < 0:
            raise ValueError('stale_reads must be a number >= 0, got %r' % (stale_reads,))

    def handle(self, action, params):
        handler = getattr(self, '_' + action)
        try:
            with self.model.lock:
                before = self._before(action, params)
                response = handler(action, params)
                if before is not None and response.status == 200 and response.body.get('Success') in (True, 'true'):
                    job, detail, item = before
                    job._stale = [detail, item, self.stale_reads]
            return response
        except JobNotFound:
            return self._not_found(action, params)
        except BadParameter as error:
            return business_error(action, 'InvalidParameter', error.message, dynamic_message=error.name, job_id=params.get('DtsJobId'))
        except JobError as error:
            return business_error(action, error.code, error.message, job_id=params.get('DtsJobId'))

    def _not_found(self, action, params):
        if self.not_found_style == 'gateway':
            return gateway_error(403, 'Forbidden.InstanceNotFound', 'The specified instance is not found.')
        return business_error(action, 'InvalidJobId', INVALID_VALUE, dynamic_message='DtsJobId', job_id=params.get('DtsJobId'))

    def _job(self, params, instance_key='DtsInstanceId', read=False, delete=False):
        """The task a request names. ``read``: a Describe call, which may see a released task (as Finished,
        or as it was while its stale reads last); ``delete``: DeleteDtsJob, which sees it when released
        tasks stay visible."""
        try:
            job = self.model.find(params.get('DtsJobId'), params.get(instance_key))
        except JobNotFound:
            job = self.model.find(params.get('DtsJobId'), params.get(instance_key), include_released=True)
            if not ((read and job._stale) or (self.released_status == 'finished' and (read or delete))):
                raise
        region = params.get('RegionId')
        if region and region != job.region:
            raise JobNotFound(job.job_id)
        return job

    # -- views --------------------------------------------------------------------------------

    def _reported(self, job, view, kind, consume=True):
        """The ``kind`` ('detail' or 'list') view as a reader gets it: stale (as before the last action),
        a released task as Finished, an injected status."""
        if job._stale:
            view = dict(job._stale[0 if kind == 'detail' else 1])
            if consume:
                job._stale[2] -= 1
                if job._stale[2] <= 0:
                    job._stale = None
            return view
        if job.released:
            view['Status'] = 'Finished'
            if 'DataSynchronizationStatus' in view:
                view['DataSynchronizationStatus'] = dict(view['DataSynchronizationStatus'], Status='Finished')
        if job._injected:
            view['Status'] = job._injected[0]
            if consume and job._injected[1] is not None:
                job._injected[1] -= 1
                if job._injected[1] <= 0:
                    job._injected = None
        return view

    def _before(self, action, params):
        """What the task named by a state-changing request looks like now (for stale reads), or None."""
        if not self.stale_reads or action not in STATE_CHANGING or not (params.get('DtsJobId') or params.get('DtsInstanceId')):
            return None
        try:
            job = self.model.find(params.get('DtsJobId'), params.get('DtsInstanceId'))
        except JobNotFound:
            return None
        return job, self._detail(job), self._list_item(job)

    def _detail(self, job):
        now = self.model.clock()
        job._advance(now)
        sync = job._sync_status(now)
        delay = job._delay(now)
        error = job._error_message or ''
        return {
            'DtsJobId': job.job_id, 'DtsInstanceID': job.instance_id, 'DtsJobName': job.name,
            'JobType': 'sync' if job.job_type == 'SYNC' else 'online',
            'Status': job._status(detail=True), 'Delay': delay, 'Checkpoint': job._checkpoint,
            'MigrationMode': {'StructureInitialization': job.structure, 'DataInitialization': job.full,
                              'DataSynchronization': job.incremental, 'DataExtractTransformLoad': False},
            'DataSynchronizationStatus': {
                'Status': sync, 'Percent': '100' if sync in ('Catched', 'Finished') else '0' if sync == 'NotStarted' else '95',
                'Progress': self._progress(sync), 'ErrorMessage': error if sync == 'Failed' else '', 'NeedUpgrade': False},
            'SourceEndpoint': dict(job.source), 'DestinationEndpoint': dict(job.destination),
            'DbObject': job.db_object, 'Reserved': job.reserved, 'PayType': job.pay_type, 'DtsJobClass': job.job_class,
            'CreateTime': iso_time(job.created_at), 'BootTime': iso_time(job._boot_time), 'FinishTime': iso_time(job._finished_at),
            'LastUpdateTime': iso_time(job._last_update), 'ErrorMessage': error, 'DtsJobDirection': 'Forward',
            'SubSyncJob': [], 'SubDistributedJob': [],
        }

    @staticmethod
    def _progress(sync):
        return '1200.00RPS/(1.172MB/s)' if sync == 'Migrating' else '0.00RPS/(0.000MB/s)'

    def _list_item(self, job, with_db_list=True):
        now = self.model.clock()
        job._advance(now)
        sync = job._sync_status(now)
        error = job._error_message or ''
        delay = job._delay(now)
        if job.job_type == 'SYNC':
            # SDK 5.11.7: DescribeDtsJobs reports the delay of sync tasks in seconds.
            delay = delay // 1000

        def step(name):
            status, percent = job._step_status(name, now)
            item = {'Status': status, 'Percent': str(percent), 'ErrorMessage': error if status == 'Failed' else ''}
            if name != 'precheck':
                item['Progress'] = str(percent)
            return item

        item = {
            'DtsJobId': job.job_id, 'DtsInstanceID': job.instance_id, 'DtsJobName': job.name,
            'JobType': 'sync' if job.job_type == 'SYNC' else 'online', 'Status': job._status(detail=False),
            'Delay': delay, 'Checkpoint': str(job._checkpoint),
            'MigrationMode': {'StructureInitialization': job.structure, 'DataInitialization': job.full, 'DataSynchronization': job.incremental,
                              'FullDataCheck': False, 'IncDataCheck': False, 'StructureDataCheck': False, 'TimeWindowCheck': False},
            'PrecheckStatus': dict(step('precheck'), Detail=[]),
            'StructureInitializationStatus': step('structure'),
            'DataInitializationStatus': step('full'),
            'DataSynchronizationStatus': {
                'Status': sync, 'Percent': '100' if sync in ('Catched', 'Finished') else '0' if sync == 'NotStarted' else '95',
                'Progress': self._progress(sync), 'ErrorMessage': error if sync == 'Failed' else '', 'NeedUpgrade': False},
            'SourceEndpoint': dict(job.source), 'DestinationEndpoint': dict(job.destination),
            'PayType': job.pay_type, 'DtsJobClass': job.job_class, 'CreateTime': iso_time(job.created_at),
            'FinishTime': iso_time(job._finished_at), 'ErrorMessage': error, 'Reserved': job.reserved,
            'DtsJobDirection': 'Forward', 'OriginType': 'DTS', 'TagList': [], 'Performance': {'Rps': '0', 'Flow': '0'},
        }
        if with_db_list:
            item['DbObject'] = job.db_object
        return item

    # -- actions ------------------------------------------------------------------------------

    def _DescribeDtsJobDetail(self, action, params):
        with self.model.lock:
            job = self._job(params, instance_key='DtsInstanceID', read=True)
            body = envelope(action)
            body.update(self._reported(job, self._detail(job), 'detail'))
        return Response(200, body, job_id=job.job_id)

    def _DescribeDtsJobs(self, action, params):
        job_type = (params.get('JobType') or 'MIGRATION').upper()
        if job_type not in ('MIGRATION', 'SYNC', 'SUBSCRIBE'):
            raise BadParameter('JobType')
        page_number = integer(params, 'PageNumber', 1)
        page_size = integer(params, 'PageSize', 20, maximum=100)
        search_type = params.get('Type')
        if search_type and search_type not in ('instance', 'name', 'srcRds', 'rds'):
            raise BadParameter('Type')
        order_column = params.get('OrderColumn') or 'CreateTime'
        if order_column not in ('CreateTime', 'FinishTime', 'duLimit'):
            raise BadParameter('OrderColumn')
        direction = (params.get('OrderDirection') or 'ASC').upper()
        if direction not in ('ASC', 'DESC'):
            raise BadParameter('OrderDirection')
        with_db_list = not boolean(params, 'WithoutDbList', default=False)
        job_ids = set(filter(None, (params.get('DtsJobId') or '').split(',')))
        instance_ids = set(filter(None, (params.get('DtsInstanceId') or '').split(',')))
        region = params.get('Region') or params.get('RegionId')
        status = (params.get('Status') or '').lower()
        needle = params.get('Params') or ''

        with self.model.lock:
            selected = []
            for index, job in enumerate(self.model.all(include_released=True)):
                if job.released and not (job._stale or self.released_status == 'finished'):
                    continue
                if job.job_type != job_type or (region and job.region != region):
                    continue
                if (job_ids and job.job_id not in job_ids) or (instance_ids and job.instance_id not in instance_ids):
                    continue
                if status and self._reported(job, {'Status': job._status(detail=False)}, 'list', consume=False)['Status'].lower() != status:
                    continue
                if search_type and needle:
                    if search_type == 'name' and needle.lower() not in (job.name or '').lower():
                        continue
                    if search_type == 'instance' and job.instance_id != needle:
                        continue
                    if search_type == 'srcRds' and job.source.get('InstanceID') != needle:
                        continue
                    if search_type == 'rds' and job.destination.get('InstanceID') != needle:
                        continue
                selected.append((index, job))
            column = (lambda pair: (pair[1]._finished_at or 0, pair[0])) if order_column == 'FinishTime' else (lambda pair: (pair[1].created_at, pair[0]))
            selected.sort(key=column, reverse=direction == 'DESC')
            page = [job for dummy, job in selected[(page_number - 1) * page_size:page_number * page_size]]
            body = envelope(action)
            body.update({'TotalRecordCount': len(selected), 'PageRecordCount': len(page), 'PageNumber': page_number,
                         'DtsJobList': [self._listed(job, with_db_list) for job in page], 'EtlDemoList': []})
        return Response(200, body)

    def _listed(self, job, with_db_list):
        item = self._reported(job, self._list_item(job, True), 'list')
        if not with_db_list:
            item.pop('DbObject', None)
        return item

    def _control(self, action, params, operation):
        job = self._job(params, delete=action == 'DeleteDtsJob')
        operation(job)
        return Response(200, envelope(action), job_id=job.job_id)

    def _SuspendDtsJob(self, action, params):
        return self._control(action, params, self.model.suspend)

    def _StartDtsJob(self, action, params):
        return self._control(action, params, self.model.start)

    def _StopDtsJob(self, action, params):
        return self._control(action, params, self.model.stop)

    def _DeleteDtsJob(self, action, params):
        return self._control(action, params, self.model.delete)

    def _CreateReverseDtsJob(self, action, params):
        forward = self.model.find(params.get('DtsJobId'))
        job = self.model.create_reverse(forward)
        body = envelope(action)
        body.update({'DtsJobId': job.job_id, 'DtsInstanceId': job.instance_id})
        return Response(200, body, job_id=forward.job_id)

    def _StartReverseWriter(self, action, params):
        job = self.model.find(params.get('DtsJobId'))
        checkpoint = params.get('CheckPoint')
        if checkpoint in (None, ''):
            checkpoint = None
        elif not checkpoint.isdigit():
            # Documented for this action as an HTTP 403 (reference 1.7).
            return gateway_error(403, 'InvalidParameter', 'The value of the parameter CheckPoint is invalid.')
        self.model.start_reverse_writer(job, checkpoint)
        return Response(200, envelope(action), job_id=job.job_id)

    def _CreateDtsInstance(self, action, params):
        if not params.get('JobId'):
            instance_type = (params.get('Type') or '').upper()
            if instance_type not in ('MIGRATION', 'SYNC'):
                raise BadParameter('Type')
        if params.get('PayType') and params['PayType'] not in ('PrePaid', 'PostPaid'):
            raise BadParameter('PayType')
        try:
            instance_id, job_id, job = self.model.create_instance(params)
        except JobNotFound:
            raise BadParameter('JobId') from None
        if params.get('JobId') and boolean(params, 'AutoStart', default=False):
            self.model.start(job)
        body = envelope(action)
        body.update({'InstanceId': instance_id, 'JobId': job_id})
        return Response(200, body, job_id=job_id)

    def _ConfigureDtsJob(self, action, params):
        for name in ('DtsJobName', 'SourceEndpointInstanceType', 'DestinationEndpointInstanceType', 'DbList'):
            if not params.get(name):
                raise BadParameter(name)
        job_type = (params.get('JobType') or '').upper()
        if job_type not in ('MIGRATION', 'SYNC'):
            raise BadParameter('JobType')
        flags = {key: boolean(params, name) for key, name in
                 (('structure', 'StructureInitialization'), ('full', 'DataInitialization'), ('incremental', 'DataSynchronization'))}
        if not any(flags.values()):
            raise BadParameter('DataSynchronization', 'At least one of StructureInitialization, DataInitialization and %s must be true.')
        try:
            json.loads(params['DbList'])
        except ValueError:
            raise BadParameter('DbList') from None
        if params.get('Checkpoint') and not params['Checkpoint'].isdigit():
            raise BadParameter('Checkpoint')
        auto_start = 'all'
        if params.get('Reserve'):
            try:
                reserve = json.loads(params['Reserve'])
            except ValueError:
                raise BadParameter('Reserve') from None
            if not isinstance(reserve, dict):
                raise BadParameter('Reserve')
            # Documented values all (default) and none (.../dts/developer-reference/migrationreserved).
            auto_start = str(reserve.get('autoStartModulesAfterConfig', 'all'))
            if auto_start not in ('all', 'none'):
                raise BadParameter('Reserve', 'The Value of Input Parameter %s is not valid: autoStartModulesAfterConfig must be all or none.')

        def side(prefix, database_key):
            return {
                'InstanceType': params.get(prefix + 'InstanceType'), 'EngineName': params.get(prefix + 'EngineName') or 'MYSQL',
                'InstanceID': params.get(prefix + 'InstanceID'), 'Region': params.get(prefix + 'Region'),
                'Ip': params.get(prefix + 'IP'), 'Port': params.get(prefix + 'Port'), 'UserName': params.get(prefix + 'UserName'),
                'DatabaseName': params.get(prefix + database_key), 'OracleSID': params.get(prefix + 'OracleSID'),
            }

        fields = dict(flags, name=params['DtsJobName'], job_type=job_type, db_object=params['DbList'], reserved=params.get('Reserve'),
                      source=side('SourceEndpoint', 'DatabaseName'), destination=side('DestinationEndpoint', 'DataBaseName'),
                      params=params, auto_start=auto_start)
        job = None
        if params.get('DtsJobId') or params.get('DtsInstanceId'):
            job = self.model.find(params.get('DtsJobId'), params.get('DtsInstanceId'))
        job = self.model.configure(job, fields)
        body = envelope(action)
        body.update({'DtsJobId': job.job_id, 'DtsInstanceId': job.instance_id})
        return Response(200, body, job_id=job.job_id)
