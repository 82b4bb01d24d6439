"""waiting.Waiter on a fake clock: goal, stability, backoff, deadline, terminal states, samples."""

import pytest

from ansible_collections.dtsops.switchover.plugins.module_utils.waiting import (
    Observation,
    WaitAborted,
    WaitTimeout,
    Waiter,
)


class FakeClock(object):
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self, start=1000.0):
        self.now = start
        self.sleeps = []

    def __call__(self):
        return self.now

    def wallclock(self):
        return 1700000000.0 + self.now

    def sleep(self, seconds):
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def make_waiter(clock, **kwargs):
    return Waiter(clock=clock, wallclock=clock.wallclock, sleep=clock.sleep, **kwargs)


class Script(object):
    """A probe that replays observations by elapsed time: [(from_second, Observation), ...]."""

    def __init__(self, clock, steps):
        self.clock = clock
        self.start = clock()
        self.steps = steps
        self.calls = []

    def __call__(self):
        elapsed = self.clock() - self.start
        self.calls.append(elapsed)
        current = self.steps[0][1]
        for since, observation in self.steps:
            if elapsed >= since:
                current = observation
        return current


def test_returns_at_first_poll_when_goal_holds_and_no_stability_is_asked():
    clock = FakeClock()
    result = make_waiter(clock, timeout=60, poll_interval=5).wait(lambda: Observation(True, {'delay_ms': 0}))
    assert result.polls == 1
    assert result.elapsed == 0
    assert clock.sleeps == []
    assert result.samples == [{'t': 0, 'time': 1700001000.0, 'ready': True, 'delay_ms': 0}]


def test_goal_must_hold_for_stable_for_seconds_and_a_relapse_restarts_the_window():
    clock = FakeClock()
    ready, not_ready = Observation(True), Observation(False)
    probe = Script(clock, [(0, ready), (12, not_ready), (17, ready)])
    result = make_waiter(clock, timeout=300, poll_interval=5, stable_for=20).wait(probe)
    # Ready at 0, 5, 10; relapse seen at 15; ready again from 20: held from 20 to 40.
    assert probe.calls == [0, 5, 10, 15, 20, 25, 30, 35, 40]
    assert result.held_for == 20
    assert result.elapsed == 40


def test_stability_window_end_is_not_overslept():
    clock = FakeClock()
    result = make_waiter(clock, timeout=300, poll_interval=7, stable_for=10).wait(lambda: Observation(True))
    # 0, 7, then exactly at 10 (the window's end), not 14.
    assert clock.sleeps == [7, 3]
    assert result.held_for == 10


def test_interval_backs_off_while_far_up_to_max_interval():
    clock = FakeClock()
    probe = Script(clock, [(0, Observation(False)), (200, Observation(True))])
    make_waiter(clock, timeout=600, poll_interval=2, max_interval=10, backoff=2).wait(probe)
    assert clock.sleeps[:5] == [2, 4, 8, 10, 10]
    assert max(clock.sleeps) == 10


def test_near_goal_polls_at_the_base_interval():
    clock = FakeClock()
    probe = Script(clock, [(0, Observation(False)), (30, Observation(False, near=True)), (60, Observation(True))])
    make_waiter(clock, timeout=600, poll_interval=2, max_interval=20, backoff=2).wait(probe)
    near_polls = [t for t in probe.calls if 30 <= t < 60]
    gaps = [b - a for a, b in zip(near_polls, near_polls[1:])]
    assert gaps and set(gaps) == {2}


def test_ten_minute_wait_with_default_backoff_stays_well_under_150_polls():
    clock = FakeClock()
    probe = Script(clock, [(0, Observation(False)), (590, Observation(True))])
    result = make_waiter(clock, timeout=900, poll_interval=5, stable_for=60).wait(probe)
    assert result.polls < 50


def test_deadline_raises_timeout_with_what_was_seen_and_never_sleeps_past_it():
    clock = FakeClock()
    start = clock()
    with pytest.raises(WaitTimeout) as caught:
        make_waiter(clock, timeout=25, poll_interval=10, backoff=1).wait(lambda: Observation(False, {'phase': 'full'}))
    assert str(caught.value) == 'timed out after 25 seconds'
    assert clock.now - start == 25
    assert caught.value.result.polls == 4  # 0, 10, 20, 25
    assert caught.value.result.samples[-1]['phase'] == 'full'


def test_deadline_during_stability_window_is_a_timeout():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        make_waiter(clock, timeout=30, poll_interval=5, stable_for=60).wait(lambda: Observation(True))
    assert caught.value.result.held_for == 30


def test_zero_timeout_probes_once():
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        make_waiter(clock, timeout=0, poll_interval=5).wait(lambda: Observation(False))
    assert caught.value.result.polls == 1
    assert clock.sleeps == []


def test_terminal_observation_aborts_at_once_with_its_reason():
    clock = FakeClock()
    probe = Script(clock, [(0, Observation(False)), (10, Observation(False, {'status': 'Failed'}, terminal='task failed: DTS-070211'))])
    with pytest.raises(WaitAborted) as caught:
        make_waiter(clock, timeout=600, poll_interval=5, backoff=1).wait(probe)
    assert str(caught.value) == 'task failed: DTS-070211'
    assert caught.value.result.polls == 3
    assert caught.value.result.last.values == {'status': 'Failed'}


def test_terminal_wins_over_ready():
    clock = FakeClock()
    with pytest.raises(WaitAborted):
        make_waiter(clock, timeout=60).wait(lambda: Observation(True, terminal='gone'))


def test_samples_are_bounded_and_keep_first_and_last_with_even_spacing():
    clock = FakeClock()
    counter = iter(range(100000))

    def probe():
        return Observation(False, {'n': next(counter)})

    with pytest.raises(WaitTimeout) as caught:
        make_waiter(clock, timeout=999, poll_interval=1, backoff=1, max_samples=11).wait(probe)
    result = caught.value.result
    numbers = [sample['n'] for sample in result.samples]
    assert result.polls == 1000
    assert len(numbers) <= 11
    assert numbers[0] == 0 and numbers[-1] == 999
    gaps = set(b - a for a, b in zip(numbers[:-1], numbers[1:-1]))
    assert len(gaps) == 1  # one stride across the kept curve
    assert numbers == sorted(numbers)


@pytest.mark.parametrize('limit', [2, 3, 5, 240])
def test_sample_limit_holds_for_any_size(limit):
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as caught:
        make_waiter(clock, timeout=500, poll_interval=1, backoff=1, max_samples=limit).wait(lambda: Observation(False))
    samples = caught.value.result.samples
    assert len(samples) <= limit
    assert samples[0]['t'] == 0 and samples[-1]['t'] == 500


def test_progress_callback_is_rate_limited():
    clock = FakeClock()
    seen = []
    probe = Script(clock, [(0, Observation(False)), (100, Observation(True))])
    make_waiter(clock, timeout=600, poll_interval=5, backoff=1, progress_every=30,
                on_progress=lambda observation, result: seen.append(round(result.elapsed))).wait(probe)
    assert seen == [0, 30, 60, 90]


def test_deadline_is_exposed_to_the_probe_during_the_wait_only():
    clock = FakeClock()
    waiter = make_waiter(clock, timeout=40, poll_interval=5)
    remaining = []

    def probe():
        remaining.append(waiter.remaining())
        return Observation(len(remaining) == 2)

    waiter.wait(probe)
    assert remaining == [40, 35]
    assert waiter.deadline is None and waiter.remaining() is None


@pytest.mark.parametrize('kwargs, message', [
    ({'timeout': -1}, 'timeout must be zero or more seconds'),
    ({'timeout': None}, 'timeout must be zero or more seconds'),
    ({'timeout': 5, 'poll_interval': 0}, 'poll_interval must be more than zero seconds'),
    ({'timeout': 5, 'stable_for': -2}, 'stable_for must be zero or more seconds'),
])
def test_invalid_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Waiter(**kwargs)


def test_held_for_continues_a_stability_window_from_an_earlier_slice():
    clock = FakeClock()
    result = make_waiter(clock, timeout=60, poll_interval=5, stable_for=20, held_for=15).wait(lambda: Observation(True))
    # 15 s held in an earlier slice: 5 more are enough.
    assert clock.sleeps == [5]
    assert result.held_for == 20


def test_held_for_is_forgotten_when_the_goal_does_not_hold_at_the_first_poll():
    clock = FakeClock()
    probe = Script(clock, [(0, Observation(False)), (5, Observation(True))])
    result = make_waiter(clock, timeout=60, poll_interval=5, stable_for=20, held_for=15, backoff=1).wait(probe)
    assert probe.calls == [0, 5, 10, 15, 20, 25]
    assert result.held_for == 20
